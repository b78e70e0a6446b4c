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
//! `x · W`. Checkpoint tensor names appear once, in [`Llama::from_checkpoint`]. The module is
//! backend-free: the device comes with the tensors.

use crate::attention_input::AttentionInput;
use crate::cache::KvCache;
use crate::config::{ModelConfig, RopeScaling};
use crate::error::{ModelError, Result};
use crate::frozen::FrozenWeight;
use crate::lora::{layer_seed, Linear, LoraConfig};
use crate::ops;
use crate::precision::{Precision, Quantize, WeightDtype};
use crate::weights::{tensor_values, transpose, Checkpoint};
use burn::module::{Module, Param};
use burn::tensor::activation::softmax;
use burn::tensor::{DType, Device, FloatDType, IndexingUpdateOp, Int, Tensor, TensorData};
use safetensors::tensor::Dtype as SafeDtype;
use std::path::Path;

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
pub struct RmsNorm {
    /// γ, `[d]`.
    pub gamma: Param<Tensor<1>>,
    /// ε.
    pub eps: f64,
}

impl RmsNorm {
    /// Normalises the last dimension of `x`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        ops::rms_norm(x, self.gamma.val(), self.eps)
    }
}

/// Grouped-query self-attention with rotary positions.
#[derive(Module, Debug)]
pub struct Attention {
    /// Query projection `[d, h·hd]`.
    pub q_proj: Linear,
    /// Key projection `[d, kvh·hd]`.
    pub k_proj: Linear,
    /// Value projection `[d, kvh·hd]`.
    pub v_proj: Linear,
    /// Output projection `[h·hd, d]`.
    pub o_proj: Linear,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads.
    pub kv_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
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
        let q = split(self.q_proj.forward(x.clone()), self.heads);
        let k = split(self.k_proj.forward(x.clone()), self.kv_heads);
        let v = split(self.v_proj.forward(x), self.kv_heads);
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
pub struct Mlp {
    /// Gate projection `[d, ffn]`.
    pub gate_proj: Linear,
    /// Up projection `[d, ffn]`.
    pub up_proj: Linear,
    /// Down projection `[ffn, d]`.
    pub down_proj: Linear,
}

impl Mlp {
    /// Applies the MLP to the last dimension.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let g = self.gate_proj.forward(x.clone());
        let u = self.up_proj.forward(x);
        let dims = g.dims();
        let (rows, ffn) = (dims[..D - 1].iter().product::<usize>(), dims[D - 1]);
        let h = ops::swiglu(g.reshape([1, rows, ffn]), u.reshape([1, rows, ffn])).reshape(dims);
        self.down_proj.forward(h)
    }
}

/// Mixtral's sparse mixture of experts: softmax router, top-k experts per token, weights renormalised
/// over the chosen k, outputs summed (as Hugging Face's `MixtralSparseMoeBlock`).
#[derive(Module, Debug)]
pub struct SparseMoe {
    /// Router `[d, experts]`, frozen.
    pub router: Param<Tensor<2>>,
    /// The experts.
    pub experts: Vec<Mlp>,
    /// Experts per token.
    pub top_k: usize,
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
pub enum FeedForward {
    /// Llama, Mistral, Qwen2.
    Dense(Mlp),
    /// Mixtral.
    Moe(SparseMoe),
}

/// One decoder block: pre-norm attention and pre-norm MLP, each with a residual connection.
#[derive(Module, Debug)]
pub struct DecoderLayer {
    /// Norm before attention.
    pub input_layernorm: RmsNorm,
    /// Self-attention.
    pub self_attn: Attention,
    /// Norm before the MLP.
    pub post_attention_layernorm: RmsNorm,
    /// The MLP.
    pub mlp: FeedForward,
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

/// The projections of one decoder layer (`&DecoderLayer` or `&mut DecoderLayer`) LoRA may wrap, as
/// `(path inside the layer, projection)` in checkpoint order: the one table behind
/// [`Llama::linears`] and [`Llama::linears_mut`]. A macro so that one list yields shared or mutable
/// borrows alike.
macro_rules! projections {
    ($layer:expr) => {{
        let DecoderLayer {
            self_attn:
                Attention {
                    q_proj,
                    k_proj,
                    v_proj,
                    o_proj,
                    ..
                },
            mlp,
            ..
        } = $layer;
        let mut out = vec![
            ("self_attn.q_proj", q_proj),
            ("self_attn.k_proj", k_proj),
            ("self_attn.v_proj", v_proj),
            ("self_attn.o_proj", o_proj),
        ];
        if let FeedForward::Dense(Mlp {
            gate_proj,
            up_proj,
            down_proj,
        }) = mlp
        {
            out.extend([
                ("mlp.gate_proj", gate_proj),
                ("mlp.up_proj", up_proj),
                ("mlp.down_proj", down_proj),
            ]);
        }
        out
    }};
}

// ---------------------------------------------------------------------------------------------
// The model.
// ---------------------------------------------------------------------------------------------

/// The decoder with its output head. Base weights are frozen parameters; LoRA adapters (when
/// attached) are the only trainable ones, so an optimizer stepping this module updates only them.
#[derive(Module, Debug)]
pub struct Llama {
    /// Token embedding E, `[vocab, d]`, frozen.
    pub embed_tokens: Param<Tensor<2>>,
    /// The decoder blocks.
    pub layers: Vec<DecoderLayer>,
    /// Final norm.
    pub norm: RmsNorm,
    /// Untied output head `[d, vocab]`; `None` when tied to the embedding.
    pub lm_head: Option<Param<Tensor<2>>>,
    /// The configuration the model was built from.
    #[module(skip)]
    pub config: ModelConfig,
    /// Rotary inverse frequencies (from θ and the scaling).
    pub inv_freq: Vec<f64>,
}

impl Llama {
    /// Loads a Hugging Face checkpoint directory (`config.json` + safetensors) onto `device`, every
    /// weight in f32.
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        Self::load_with(dir, device, Precision::F32)
    }

    /// Loads a checkpoint directory with the frozen base stored as `precision` says (resolved:
    /// `auto` counts as f32; see [`Precision::resolve`]).
    pub fn load_with(dir: &Path, device: &Device, precision: Precision) -> Result<Self> {
        let config = ModelConfig::from_dir(dir)?;
        let ck = Checkpoint::open_dir(dir)?;
        Self::from_checkpoint_with(config, &ck, device, precision)
    }

    /// Builds the model from an opened checkpoint, every weight in f32.
    pub fn from_checkpoint(config: ModelConfig, ck: &Checkpoint, device: &Device) -> Result<Self> {
        Self::from_checkpoint_with(config, ck, device, Precision::F32)
    }

    /// Builds the model from an opened checkpoint with the base stored as `precision` says.
    /// **The only place checkpoint names are written.**
    pub fn from_checkpoint_with(
        config: ModelConfig,
        ck: &Checkpoint,
        device: &Device,
        precision: Precision,
    ) -> Result<Self> {
        let c = &config;
        let ld = Loader {
            ck,
            device,
            precision,
        };
        let (d, hd, v) = (c.hidden_size, c.head_dim, c.vocab_size);
        let (q_out, kv_out) = (c.num_attention_heads * hd, c.num_key_value_heads * hd);
        let mlp = |p: &str, names: [&str; 3]| -> Result<Mlp> {
            Ok(Mlp {
                gate_proj: ld.linear(
                    &format!("{p}.{}", names[0]),
                    d,
                    c.intermediate_size,
                    c.mlp_bias,
                )?,
                up_proj: ld.linear(
                    &format!("{p}.{}", names[1]),
                    d,
                    c.intermediate_size,
                    c.mlp_bias,
                )?,
                down_proj: ld.linear(
                    &format!("{p}.{}", names[2]),
                    c.intermediate_size,
                    d,
                    c.mlp_bias,
                )?,
            })
        };
        let mut layers = Vec::with_capacity(c.num_hidden_layers);
        for i in 0..c.num_hidden_layers {
            let p = format!("model.layers.{i}");
            let ff = match c.moe {
                None => FeedForward::Dense(mlp(
                    &format!("{p}.mlp"),
                    ["gate_proj", "up_proj", "down_proj"],
                )?),
                Some(moe) => FeedForward::Moe(SparseMoe {
                    router: ld.frozen(ld.linear_weight_f32(
                        &format!("{p}.block_sparse_moe.gate"),
                        d,
                        moe.num_experts,
                    )?),
                    experts: (0..moe.num_experts)
                        .map(|e| {
                            mlp(
                                &format!("{p}.block_sparse_moe.experts.{e}"),
                                ["w1", "w3", "w2"],
                            )
                        })
                        .collect::<Result<_>>()?,
                    top_k: moe.experts_per_token,
                }),
            };
            layers.push(DecoderLayer {
                input_layernorm: ld.norm(&format!("{p}.input_layernorm"), d, c.rms_norm_eps)?,
                self_attn: Attention {
                    q_proj: ld.linear(&format!("{p}.self_attn.q_proj"), d, q_out, c.qkv_bias)?,
                    k_proj: ld.linear(&format!("{p}.self_attn.k_proj"), d, kv_out, c.qkv_bias)?,
                    v_proj: ld.linear(&format!("{p}.self_attn.v_proj"), d, kv_out, c.qkv_bias)?,
                    o_proj: ld.linear(&format!("{p}.self_attn.o_proj"), q_out, d, c.o_bias)?,
                    heads: c.num_attention_heads,
                    kv_heads: c.num_key_value_heads,
                    head_dim: hd,
                },
                post_attention_layernorm: ld.norm(
                    &format!("{p}.post_attention_layernorm"),
                    d,
                    c.rms_norm_eps,
                )?,
                mlp: ff,
            });
        }
        let embed = ld.stored(ld.matrix("model.embed_tokens.weight", v, d)?);
        // Some tied checkpoints still carry lm_head.weight; an untied one must.
        let lm_head = if c.tie_word_embeddings {
            None
        } else {
            Some(ld.frozen(ld.stored(ld.linear_weight_f32("lm_head", d, v)?)))
        };
        Ok(Self {
            embed_tokens: ld.frozen(embed),
            layers,
            norm: ld.norm("model.norm", d, c.rms_norm_eps)?,
            lm_head,
            inv_freq: rope_inv_freq(c),
            config,
        })
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

    /// Final-norm hidden states `[b, t, d]` of the new tokens `[b, t]`.
    ///
    /// With a cache, keys and values of these tokens are appended to it and the tokens attend to
    /// everything cached before them; `input` must then cover `cache.len() + t` key positions.
    pub fn forward_hidden(
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

    /// Token embeddings `[b, t, d]` of `tokens` `[b, t]`, in f32 whatever the storage dtype.
    pub fn embed(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        let [b, t] = tokens.dims();
        let d = self.config.hidden_size;
        let rows = self.embed_tokens.val().select(0, tokens.reshape([b * t]));
        to_f32(rows).reshape([b, t, d])
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

    /// Decoder layer `i` applied to hidden states `[b, t, d]` (no cache).
    pub fn forward_layer(&self, i: usize, h: Tensor<3>, ctx: &LayerContext) -> Tensor<3> {
        self.layers[i].forward(h, &ctx.rope, &ctx.input, None)
    }

    /// The final RMSNorm, applied to the last layer's output.
    pub fn final_norm(&self, h: Tensor<3>) -> Tensor<3> {
        self.norm.forward(h)
    }

    /// The output head `[d, vocab]` as an f32 tensor (a transposed view of E when tied; a copy
    /// when the head is stored in bf16 or f16).
    pub fn output_weight(&self) -> Tensor<2> {
        match &self.lm_head {
            Some(w) => to_f32(w.val()),
            None => to_f32(self.embed_tokens.val()).transpose(),
        }
    }

    /// Logits `[b, t, vocab]` of hidden states `[b, t, d]`.
    pub fn logits(&self, hidden: Tensor<3>) -> Tensor<3> {
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
        self.logits(self.forward_hidden(tokens, &input, None))
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
        let device = self.embed_tokens.device();
        let row: Vec<i64> = ids.iter().map(|&i| i64::from(i)).collect();
        let tokens = Tensor::<2, Int>::from_data(TensorData::new(row, [1, ids.len()]), &device);
        tensor_values(self.forward(tokens))
    }

    /// Logits `[b, vocab]` at the last position only (inference: the head is the costliest matmul).
    pub fn forward_last(
        &self,
        tokens: Tensor<2, Int>,
        input: &AttentionInput,
        cache: Option<&mut KvCache>,
    ) -> Tensor<2> {
        let hidden = self.forward_hidden(tokens, input, cache);
        let [b, t, _] = hidden.dims();
        self.logits(hidden.narrow(1, t - 1, 1))
            .reshape([b, self.config.vocab_size])
    }

    /// Every projection, with its checkpoint path (`model.layers.N.self_attn.q_proj`, …). Mixtral's
    /// experts are not listed (PEFT targets them as w1/w2/w3, which finefail does not train).
    pub fn linears(&self) -> Vec<(String, &Linear)> {
        let mut out = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            for (name, lin) in projections!(l) {
                out.push((format!("model.layers.{i}.{name}"), lin));
            }
        }
        out
    }

    /// Mutable access to the projections LoRA may wrap, with their checkpoint paths: the same list
    /// as [`Llama::linears`].
    pub fn linears_mut(&mut self) -> Vec<(String, &mut Linear)> {
        let mut out = Vec::new();
        for (i, l) in self.layers.iter_mut().enumerate() {
            for (name, lin) in projections!(l) {
                out.push((format!("model.layers.{i}.{name}"), lin));
            }
        }
        out
    }

    /// Attaches fresh adapters to every projection named in `lora.targets` (the output is unchanged
    /// until they are trained). Replaces adapters already attached.
    pub fn attach_lora(&mut self, lora: &LoraConfig) -> Result<()> {
        lora.validate()
            .map_err(|m| ModelError::bad_input("lora", m))?;
        for (path, lin) in self.linears_mut() {
            if lora
                .targets
                .iter()
                .any(|t| path.ends_with(&format!(".{t}")))
            {
                lin.unmerge();
                lin.attach_lora(
                    lora.r,
                    lora.alpha,
                    lora.dropout,
                    layer_seed(lora.seed, &path),
                );
            }
        }
        Ok(())
    }

    /// Folds every adapter into its base weight (fast inference; undo with [`Llama::unmerge_lora`]).
    pub fn merge_lora(&mut self) {
        for (_, lin) in self.linears_mut() {
            lin.merge();
        }
    }

    /// Takes every merged adapter back out of its base weight.
    pub fn unmerge_lora(&mut self) {
        for (_, lin) in self.linears_mut() {
            lin.unmerge();
        }
    }

    /// Number of trainable (adapter) parameters: what the optimizer updates.
    pub fn trainable_parameter_count(&self) -> usize {
        self.linears()
            .iter()
            .filter_map(|(_, l)| l.lora.as_ref())
            .map(|l| l.a.dims().iter().product::<usize>() + l.b.dims().iter().product::<usize>())
            .sum()
    }

    /// Removes every adapter (unmerging first), giving back the base model.
    pub fn remove_lora(&mut self) {
        for (_, lin) in self.linears_mut() {
            lin.unmerge();
            lin.lora = None;
        }
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

/// Reads tensors by checkpoint name into frozen parameters on the target device, stored as the
/// precision says.
struct Loader<'a> {
    ck: &'a Checkpoint,
    device: &'a Device,
    precision: Precision,
}

impl Loader<'_> {
    fn frozen<const D: usize>(&self, t: Tensor<D>) -> Param<Tensor<D>> {
        Param::from_tensor(t).set_require_grad(false)
    }

    /// `t` in the storage dtype (embeddings and head; quantization leaves them alone).
    fn stored<const D: usize>(&self, t: Tensor<D>) -> Tensor<D> {
        match self.precision.dtype.burn_dtype() {
            Some(DType::BF16) => t.cast(FloatDType::BF16),
            Some(DType::F16) => t.cast(FloatDType::F16),
            _ => t,
        }
    }

    fn matrix(&self, name: &str, rows: usize, cols: usize) -> Result<Tensor<2>> {
        let values = self.ck.read_f32(name, &[rows, cols])?;
        Ok(Tensor::from_data(
            TensorData::new(values, [rows, cols]),
            self.device,
        ))
    }

    fn vector(&self, name: &str, n: usize) -> Result<Tensor<1>> {
        let values = self.ck.read_f32(name, &[n])?;
        Ok(Tensor::from_data(TensorData::new(values, [n]), self.device))
    }

    /// `{prefix}.weight`, stored `[out, in]`, returned input-major `[in, out]` in f32.
    fn linear_weight_f32(&self, prefix: &str, d_in: usize, d_out: usize) -> Result<Tensor<2>> {
        let values = self
            .ck
            .read_f32(&format!("{prefix}.weight"), &[d_out, d_in])?;
        Ok(Tensor::from_data(
            TensorData::new(transpose(&values, d_out, d_in), [d_in, d_out]),
            self.device,
        ))
    }

    /// `{prefix}.weight` input-major in its 16-bit storage dtype, read without converting when the
    /// checkpoint holds it in that dtype (`None` otherwise): a 7B bf16 checkpoint loads as bf16
    /// words, transposed, with no f32 round trip.
    fn linear_weight_half(
        &self,
        prefix: &str,
        d_in: usize,
        d_out: usize,
    ) -> Result<Option<Tensor<2>>> {
        let (file_dtype, dtype) = match (self.precision.quantize, self.precision.dtype) {
            (Quantize::None, WeightDtype::Bf16) => (SafeDtype::BF16, DType::BF16),
            (Quantize::None, WeightDtype::F16) => (SafeDtype::F16, DType::F16),
            _ => return Ok(None),
        };
        let Some(bits) =
            self.ck
                .read_half_bits(&format!("{prefix}.weight"), &[d_out, d_in], file_dtype)?
        else {
            return Ok(None);
        };
        let bits = transpose(&bits, d_out, d_in);
        let data = if dtype == DType::BF16 {
            TensorData::new(
                bits.into_iter().map(half::bf16::from_bits).collect(),
                [d_in, d_out],
            )
        } else {
            TensorData::new(
                bits.into_iter().map(half::f16::from_bits).collect(),
                [d_in, d_out],
            )
        };
        Ok(Some(Tensor::from_data(data, (self.device, dtype))))
    }

    fn linear(&self, prefix: &str, d_in: usize, d_out: usize, bias: bool) -> Result<Linear> {
        let w = if self.precision.quantize == Quantize::None
            && self.precision.dtype.burn_dtype().unwrap_or(DType::F32) == DType::F32
        {
            FrozenWeight::dense(self.linear_weight_f32(prefix, d_in, d_out)?)
        } else if let Some(t) = self.linear_weight_half(prefix, d_in, d_out)? {
            FrozenWeight::dense(t)
        } else {
            let values = self
                .ck
                .read_f32(&format!("{prefix}.weight"), &[d_out, d_in])?;
            FrozenWeight::from_checkpoint(&values, d_out, d_in, self.precision, self.device)
        };
        let b = if bias {
            Some(self.vector(&format!("{prefix}.bias"), d_out)?)
        } else {
            None
        };
        Ok(Linear::from_weight(w, b).computing_in(self.precision.compute_dtype()))
    }

    fn norm(&self, prefix: &str, d: usize, eps: f64) -> Result<RmsNorm> {
        Ok(RmsNorm {
            gamma: self.frozen(self.vector(&format!("{prefix}.weight"), d)?),
            eps,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
