//! The Llama-family decoder (Llama 2/3, Mistral, Mixtral, Qwen2, SmolLM2, TinyLlama), top to bottom
//! like its equations:
//!
//! ```text
//! h₀      = E[tokens]
//! hᵢ'     = hᵢ + Attn(RMSNorm(hᵢ))                 attention: GQA, RoPE on q and k, causal
//! hᵢ₊₁    = hᵢ' + MLP(RMSNorm(hᵢ'))                MLP: SwiGLU, or Mixtral's top-k mixture of SwiGLUs
//! logits  = RMSNorm(h_L) · W_out                   W_out = Eᵀ when embeddings are tied
//! ```
//!
//! The numeric ops (RMSNorm, RoPE, SwiGLU, attention) come from [`crate::ops`], which picks a fused
//! CPU kernel or plain burn ops per device; the projections are [`Linear`]s, which carry the LoRA
//! adapters. Linear weights are stored input-major (`[in, out]`), so each projection is a plain
//! `x · W`. The module is backend-free: the device comes with the tensors.
//!
//! Three rooms: this file holds the network (rotary positions, the blocks, the model and its
//! forward passes); `load.rs` reads a checkpoint into it — the only place checkpoint tensor names are
//! written, and where the base's storage precision is applied; `lora.rs` lists the projections LoRA
//! may wrap and attaches, merges and unmerges the adapters. Every field is private: callers go
//! through [`Llama`]'s methods.

mod load;
mod lora;

use crate::attention_input::AttentionInput;
use crate::cache::KvCache;
use crate::config::{ModelConfig, RopeScaling};
use crate::error::{ModelError, Result};
use crate::lora::{Linear, ProjectionInput};
use crate::ops;
use crate::weights::tensor_values;
use burn::module::{Module, Param};
use burn::tensor::activation::softmax;
use burn::tensor::{DType, Device, FloatDType, IndexingUpdateOp, Int, Tensor, TensorData};

// ---------------------------------------------------------------------------------------------
// Rotary positions.
// ---------------------------------------------------------------------------------------------

/// Rotary inverse frequencies `θ^(-2i/hd)`, rescaled as the config says.
fn rope_inv_freq(config: &ModelConfig) -> Vec<f64> {
    let hd = config.head_dim;
    let base: Vec<f64> = (0..hd / 2)
        .map(|i| 1.0 / config.rope_theta.powf(2.0 * i as f64 / hd as f64))
        .collect();
    match &config.rope_scaling {
        None => base,
        Some(RopeScaling::Linear { factor }) => base.iter().map(|f| f / factor).collect(),
        Some(RopeScaling::Llama3 {
            factor,
            low_freq_factor,
            high_freq_factor,
            original_max_position_embeddings,
        }) => {
            let low_wavelen = original_max_position_embeddings / low_freq_factor;
            let high_wavelen = original_max_position_embeddings / high_freq_factor;
            base.iter()
                .map(|&f| {
                    let wavelen = 2.0 * std::f64::consts::PI / f;
                    if wavelen < high_wavelen {
                        f
                    } else if wavelen > low_wavelen {
                        f / factor
                    } else {
                        let smooth = (original_max_position_embeddings / wavelen - low_freq_factor)
                            / (high_freq_factor - low_freq_factor);
                        (1.0 - smooth) * f / factor + smooth * f
                    }
                })
                .collect()
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Blocks.
// ---------------------------------------------------------------------------------------------

/// RMSNorm with its learned scale γ (frozen).
#[derive(Module, Debug)]
struct RmsNorm {
    /// γ, `[d]`.
    gamma: Param<Tensor<1>>,
    /// ε.
    eps: f64,
}

impl RmsNorm {
    /// Normalises the last dimension of `x`.
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        ops::rms_norm(x, self.gamma.val(), self.eps)
    }
}

/// Grouped-query self-attention with rotary positions.
#[derive(Module, Debug)]
struct Attention {
    /// Query projection `[d, h·hd]`.
    q_proj: Linear,
    /// Key projection `[d, kvh·hd]`.
    k_proj: Linear,
    /// Value projection `[d, kvh·hd]`.
    v_proj: Linear,
    /// Output projection `[h·hd, d]`.
    o_proj: Linear,
    /// Query heads.
    heads: usize,
    /// Key/value heads.
    kv_heads: usize,
    /// Width of one head.
    head_dim: usize,
}

impl Attention {
    fn forward(
        &self,
        x: Tensor<3>,
        rope: &(Tensor<4>, Tensor<4>),
        input: &AttentionInput,
        cache: Option<(&mut KvCache, usize)>,
    ) -> Tensor<3> {
        let [b, t, _] = x.dims();
        let split =
            |y: Tensor<3>, heads: usize| y.reshape([b, t, heads, self.head_dim]).swap_dims(1, 2);
        let x = ProjectionInput::shared(x, &[&self.q_proj, &self.k_proj, &self.v_proj]);
        let q = split(self.q_proj.forward_shared(&x), self.heads);
        let k = split(self.k_proj.forward_shared(&x), self.kv_heads);
        let v = split(self.v_proj.forward_shared(&x), self.kv_heads);
        let q = ops::rope(q, rope.0.clone(), rope.1.clone());
        let k = ops::rope(k, rope.0.clone(), rope.1.clone());
        let (k, v) = match cache {
            Some((c, layer)) => c.append(layer, k, v),
            None => (k, v),
        };
        let o = ops::attention(q, k, v, input.mask.clone(), input.causal_only);
        self.o_proj.forward(
            o.swap_dims(1, 2)
                .reshape([b, t, self.heads * self.head_dim]),
        )
    }
}

/// The SwiGLU MLP: `down(silu(gate(x)) ⊙ up(x))` (Mixtral's experts name these w1, w3, w2).
#[derive(Module, Debug)]
struct Mlp {
    /// Gate projection `[d, ffn]`.
    gate_proj: Linear,
    /// Up projection `[d, ffn]`.
    up_proj: Linear,
    /// Down projection `[ffn, d]`.
    down_proj: Linear,
}

impl Mlp {
    /// Applies the MLP to the last dimension. With a 16-bit compute dtype gate, up and SwiGLU stay
    /// in it (their outputs only feed down, which multiplies in it anyway), so `[tokens, ffn]`
    /// is neither cast up nor kept in f32 for the backward; the output is f32.
    fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let x = ProjectionInput::shared(x, &[&self.gate_proj, &self.up_proj]);
        let g = self.gate_proj.forward_in_compute(&x);
        let u = self.up_proj.forward_in_compute(&x);
        let dims = g.dims();
        let (rows, ffn) = (dims[..D - 1].iter().product::<usize>(), dims[D - 1]);
        let h = ops::swiglu(g.reshape([1, rows, ffn]), u.reshape([1, rows, ffn])).reshape(dims);
        self.down_proj
            .forward_shared(&ProjectionInput::shared(h, &[&self.down_proj]))
    }
}

/// Mixtral's sparse mixture of experts: softmax router, top-k experts per token, weights renormalised
/// over the chosen k, outputs summed (as Hugging Face's `MixtralSparseMoeBlock`).
#[derive(Module, Debug)]
struct SparseMoe {
    /// Router `[d, experts]`, frozen.
    router: Param<Tensor<2>>,
    /// The experts.
    experts: Vec<Mlp>,
    /// Experts per token.
    top_k: usize,
}

impl SparseMoe {
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [b, t, d] = x.dims();
        let n = b * t;
        let device = x.device();
        let x2 = x.reshape([n, d]);
        let probs = softmax(x2.clone().matmul(self.router.val()), 1);
        let (weights, chosen) = probs.topk_with_indices(self.top_k, 1);
        let weights = weights.clone() / weights.sum_dim(1);
        let weights = weights.reshape([n * self.top_k]);
        let chosen: Vec<i64> = chosen.into_data().convert::<i64>().iter::<i64>().collect();
        let mut out = Tensor::<2>::zeros([n, d], &device);
        for (e, expert) in self.experts.iter().enumerate() {
            let slots: Vec<i64> = (0..chosen.len())
                .filter(|&s| chosen[s] == e as i64)
                .map(|s| s as i64)
                .collect();
            if slots.is_empty() {
                continue;
            }
            let rows: Vec<i64> = slots.iter().map(|s| s / self.top_k as i64).collect();
            let count = rows.len();
            let rows = Tensor::<1, Int>::from_data(TensorData::new(rows, [count]), &device);
            let slots = Tensor::<1, Int>::from_data(TensorData::new(slots, [count]), &device);
            let y = expert.forward(x2.clone().select(0, rows.clone()));
            let w = weights.clone().select(0, slots).unsqueeze_dim::<2>(1);
            out = out.select_assign(0, rows, y * w, IndexingUpdateOp::Add);
        }
        out.reshape([b, t, d])
    }
}

/// The feed-forward half of a block: dense SwiGLU or a mixture of experts.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)] // one per layer; boxing would only add an indirection
enum FeedForward {
    /// Llama, Mistral, Qwen2.
    Dense(Mlp),
    /// Mixtral.
    Moe(SparseMoe),
}

/// One decoder block: pre-norm attention and pre-norm MLP, each with a residual connection.
#[derive(Module, Debug)]
struct DecoderLayer {
    /// Norm before attention.
    input_layernorm: RmsNorm,
    /// Self-attention.
    self_attn: Attention,
    /// Norm before the MLP.
    post_attention_layernorm: RmsNorm,
    /// The MLP.
    mlp: FeedForward,
}

impl DecoderLayer {
    fn forward(
        &self,
        x: Tensor<3>,
        rope: &(Tensor<4>, Tensor<4>),
        input: &AttentionInput,
        cache: Option<(&mut KvCache, usize)>,
    ) -> Tensor<3> {
        let h = x.clone()
            + self
                .self_attn
                .forward(self.input_layernorm.forward(x), rope, input, cache);
        let normed = self.post_attention_layernorm.forward(h.clone());
        let ff = match &self.mlp {
            FeedForward::Dense(m) => m.forward(normed),
            FeedForward::Moe(m) => m.forward(normed),
        };
        h + ff
    }
}

// ---------------------------------------------------------------------------------------------
// The model.
// ---------------------------------------------------------------------------------------------

/// The decoder with its output head. Base weights are frozen parameters; LoRA adapters (when
/// attached) are the only trainable ones, so an optimizer stepping this module updates only them.
#[derive(Module, Debug)]
pub struct Llama {
    /// Token embedding E, `[vocab, d]`, frozen.
    embed_tokens: Param<Tensor<2>>,
    /// The decoder blocks.
    layers: Vec<DecoderLayer>,
    /// Final norm.
    norm: RmsNorm,
    /// Untied output head `[d, vocab]`; `None` when tied to the embedding.
    lm_head: Option<Param<Tensor<2>>>,
    /// The configuration the model was built from.
    #[module(skip)]
    config: ModelConfig,
    /// Rotary inverse frequencies (from θ and the scaling).
    inv_freq: Vec<f64>,
}

impl Llama {
    /// The configuration the model was built from: callers size prompts by its context window,
    /// stop on its end-of-sequence ids and check tokenizers against its vocabulary.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Number of decoder layers, for running them one at a time with [`Llama::forward_layer`].
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// The device the weights live on: token tensors fed to the model must be created there.
    pub fn device(&self) -> Device {
        self.embed_tokens.device()
    }

    /// The token embedding E `[vocab, d]` in its storage dtype: frozen, so tests read it to check
    /// that training leaves the base alone.
    pub fn embedding(&self) -> Tensor<2> {
        self.embed_tokens.val()
    }

    /// Rotary cos/sin tables `[b or 1, 1, t, hd]` for the given positions (computed in f64).
    fn rope_tables(&self, positions: &[Vec<usize>], device: &Device) -> (Tensor<4>, Tensor<4>) {
        let hd = self.config.head_dim;
        let rows = if positions.windows(2).all(|w| w[0] == w[1]) {
            &positions[..1]
        } else {
            positions
        };
        let t = rows.first().map_or(0, Vec::len);
        let mut cos = Vec::with_capacity(rows.len() * t * hd);
        let mut sin = Vec::with_capacity(rows.len() * t * hd);
        for row in rows {
            for &p in row {
                let angles: Vec<f64> = self.inv_freq.iter().map(|f| p as f64 * f).collect();
                // Hugging Face concatenates the frequencies with themselves: [f, f].
                for _ in 0..2 {
                    cos.extend(angles.iter().map(|a| a.cos() as f32));
                    sin.extend(angles.iter().map(|a| a.sin() as f32));
                }
            }
        }
        let shape = [rows.len(), 1, t, hd];
        (
            Tensor::from_data(TensorData::new(cos, shape), device),
            Tensor::from_data(TensorData::new(sin, shape), device),
        )
    }

    /// Token embeddings `[b, t, d]` of `tokens` `[b, t]`, in f32 whatever the storage dtype: the
    /// first step of a pass, exposed for running the layers one at a time.
    pub fn embed(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        let [b, t] = tokens.dims();
        let d = self.config.hidden_size;
        let rows = self.embed_tokens.val().select(0, tokens.reshape([b * t]));
        to_f32(rows).reshape([b, t, d])
    }

    /// Final-norm hidden states `[b, t, d]` of tokens `[b, t]` (no cache): what a loss computed
    /// from the head in chunks ([`crate::ops::head_cross_entropy`]) starts from.
    pub fn forward_hidden(&self, tokens: Tensor<2, Int>, input: &AttentionInput) -> Tensor<3> {
        self.forward_hidden_cached(tokens, input, None)
    }

    /// Final-norm hidden states `[b, t, d]` of the new tokens `[b, t]`.
    ///
    /// With a cache, keys and values of these tokens are appended to it and the tokens attend to
    /// everything cached before them; `input` must then cover every cached position plus these `t`.
    pub(crate) fn forward_hidden_cached(
        &self,
        tokens: Tensor<2, Int>,
        input: &AttentionInput,
        mut cache: Option<&mut KvCache>,
    ) -> Tensor<3> {
        let t = tokens.dims()[1];
        let mut h = self.embed(tokens);
        let rope = self.rope_tables(&input.positions, &h.device());
        for (i, layer) in self.layers.iter().enumerate() {
            let c = cache.as_deref_mut().map(|c| (c, i));
            h = layer.forward(h, &rope, input, c);
        }
        if let Some(c) = cache {
            c.advance(t);
        }
        self.norm.forward(h)
    }

    /// The output head `[d, vocab]` as an f32 tensor (a transposed view of E when tied; a copy
    /// when the head is stored in bf16 or f16), for losses that apply the head themselves.
    pub fn output_weight(&self) -> Tensor<2> {
        match &self.lm_head {
            Some(w) => to_f32(w.val()),
            None => to_f32(self.embed_tokens.val()).transpose(),
        }
    }

    /// Makes every projection (Mixtral's experts included) multiply in `compute` from now on, the
    /// stored weights untouched: one load of a big base then serves several compute dtypes (the
    /// GPU check's f32 and bf16 logits, `model logits --compute-dtypes`).
    pub fn set_compute_dtype(&mut self, compute: FloatDType) {
        let set = |l: &mut Linear| l.compute = compute;
        for layer in &mut self.layers {
            let a = &mut layer.self_attn;
            for l in [&mut a.q_proj, &mut a.k_proj, &mut a.v_proj, &mut a.o_proj] {
                set(l);
            }
            let mlps: Vec<&mut Mlp> = match &mut layer.mlp {
                FeedForward::Dense(m) => vec![m],
                FeedForward::Moe(moe) => moe.experts.iter_mut().collect(),
            };
            for m in mlps {
                for l in [&mut m.gate_proj, &mut m.up_proj, &mut m.down_proj] {
                    set(l);
                }
            }
        }
    }

    /// The output head `[d, vocab]` in the dtype the projections compute in (the first
    /// projection's): what the training loss multiplies by (`ops::head_cross_entropy`), so on a GPU
    /// with bf16 compute the head's product runs in bf16 with no f32 copy of the head (issue 23,
    /// item 3). f32 compute gives [`Llama::output_weight`].
    pub fn output_weight_for_loss(&self) -> Tensor<2> {
        let compute = self
            .linears()
            .first()
            .map_or(FloatDType::F32, |(_, l)| l.compute);
        if compute == FloatDType::F32 {
            return self.output_weight();
        }
        let w = match &self.lm_head {
            Some(w) => w.val(),
            None => self.embed_tokens.val().transpose(),
        };
        match (w.dtype(), compute) {
            (DType::BF16, FloatDType::BF16) | (DType::F16, FloatDType::F16) => w,
            _ => w.cast(compute),
        }
    }

    /// Logits `[b, t, vocab]` of hidden states `[b, t, d]`.
    fn logits(&self, hidden: Tensor<3>) -> Tensor<3> {
        let [b, t, d] = hidden.dims();
        if let Some(y) = ops::linear_rows(&hidden, &self.output_weight()) {
            return y;
        }
        match &self.lm_head {
            // Tied head, few rows (decoding): `E · hᵀ` reads E row by row, ~8× faster on flex than a
            // product with the transposed view of E, which is what the general path does.
            None if b * t <= 64 => {
                let e = to_f32(self.embed_tokens.val());
                e.matmul(hidden.reshape([b * t, d]).transpose())
                    .transpose()
                    .reshape([b, t, self.config.vocab_size])
            }
            _ => hidden.matmul(self.output_weight().unsqueeze::<3>()),
        }
    }

    /// Logits of every position of unpadded token rows `[b, t]` (training, scoring, `model logits`).
    pub fn forward(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        let t = tokens.dims()[1];
        let input = AttentionInput::causal(t, 0, &tokens.device());
        self.logits(self.forward_hidden(tokens, &input))
    }

    /// Logits of every position of one sequence of ids, on the host, row-major `[t × vocab]`
    /// (for `model logits` and callers that do not want to touch tensors).
    pub fn logits_of_ids(&self, ids: &[u32]) -> Result<Vec<f32>> {
        let vocab = self.config.vocab_size;
        if let Some(&bad) = ids.iter().find(|&&i| i as usize >= vocab) {
            return Err(ModelError::bad_input(
                "tokens",
                format!("token id {bad} is outside the vocabulary ({vocab})"),
            ));
        }
        let device = self.device();
        let row: Vec<i64> = ids.iter().map(|&i| i64::from(i)).collect();
        let tokens = Tensor::<2, Int>::from_data(TensorData::new(row, [1, ids.len()]), &device);
        tensor_values(self.forward(tokens))
    }

    /// Logits `[b, vocab]` at the last position only (inference: the head is the costliest matmul).
    pub(crate) fn forward_last(
        &self,
        tokens: Tensor<2, Int>,
        input: &AttentionInput,
        cache: Option<&mut KvCache>,
    ) -> Tensor<2> {
        let hidden = self.forward_hidden_cached(tokens, input, cache);
        let [b, t, _] = hidden.dims();
        self.logits(hidden.narrow(1, t - 1, 1))
            .reshape([b, self.config.vocab_size])
    }

    /// What every decoder layer of one uncached pass over `input`'s positions shares: the rotary
    /// tables and the attention input (for running layers one at a time, as activation
    /// checkpointing does).
    pub fn layer_context(&self, input: AttentionInput, device: &Device) -> LayerContext {
        LayerContext {
            rope: self.rope_tables(&input.positions, device),
            input,
        }
    }

    /// Decoder layer `i` applied to hidden states `[b, t, d]` (no cache), so activation
    /// checkpointing can keep one layer's activations at a time.
    pub fn forward_layer(&self, i: usize, h: Tensor<3>, ctx: &LayerContext) -> Tensor<3> {
        self.layers[i].forward(h, &ctx.rope, &ctx.input, None)
    }

    /// The final RMSNorm, applied to the last layer's output (the end of a layer-by-layer pass).
    pub fn final_norm(&self, h: Tensor<3>) -> Tensor<3> {
        self.norm.forward(h)
    }
}

/// The tensors every decoder layer of one pass shares (see [`Llama::layer_context`]).
pub struct LayerContext {
    rope: (Tensor<4>, Tensor<4>),
    input: AttentionInput,
}

/// `t` in f32 (itself when it already is).
fn to_f32<const D: usize>(t: Tensor<D>) -> Tensor<D> {
    if t.dtype() == DType::F32 {
        t
    } else {
        t.cast(FloatDType::F32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn linear_rope_scaling_divides_frequencies() {
        let text = r#"{"model_type":"llama","hidden_size":8,"intermediate_size":8,"num_hidden_layers":1,
            "num_attention_heads":1,"vocab_size":4,"rope_theta":10000.0,
            "rope_scaling":{"type":"linear","factor":4.0}}"#;
        let c = ModelConfig::from_json_str(text, Path::new("config.json")).unwrap();
        // head_dim 8: θ^(-2i/8) for i = 0..4 → 1, 0.1, 0.01, 0.001; then / 4.
        let got = rope_inv_freq(&c);
        let want = [0.25, 0.025, 0.0025, 0.00025];
        assert!(
            got.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-12),
            "{got:?}"
        );
    }
}
