//! Reading a Hugging Face checkpoint into a [`Llama`]: the one place checkpoint tensor names are
//! written (the projection names LoRA and PEFT adapters use come from [`ATTENTION_PROJECTIONS`] and
//! [`MLP_PROJECTIONS`] here), and where the frozen base is stored as the [`Precision`] says — f32,
//! bf16/f16 (read as 16-bit words when the checkpoint already holds them), int8 or NF4.

use super::{rope_inv_freq, Attention, DecoderLayer, FeedForward, Llama, Mlp, RmsNorm, SparseMoe};
use crate::config::ModelConfig;
use crate::error::Result;
use crate::frozen::FrozenWeight;
use crate::lora::Linear;
use crate::precision::{Precision, Quantize, WeightDtype};
use crate::weights::{transpose, Checkpoint};
use burn::module::Param;
use burn::tensor::{DType, Device, FloatDType, Tensor, TensorData};
use safetensors::tensor::Dtype as SafeDtype;
use std::path::Path;

/// The attention projections of a decoder layer, by checkpoint name under [`layer_path`], in
/// checkpoint order: query, key, value, output.
pub(super) const ATTENTION_PROJECTIONS: [&str; 4] = [
    "self_attn.q_proj",
    "self_attn.k_proj",
    "self_attn.v_proj",
    "self_attn.o_proj",
];

/// The dense SwiGLU MLP's projections, by checkpoint name under [`layer_path`]: gate, up, down.
pub(super) const MLP_PROJECTIONS: [&str; 3] = ["mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"];

/// Checkpoint path of decoder layer `i` (`model.layers.i`), the prefix of its tensor names.
pub(super) fn layer_path(i: usize) -> String {
    format!("model.layers.{i}")
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
        Self::from_checkpoint(config, &ck, device, precision)
    }

    /// Builds the model from an opened checkpoint with the base stored as `precision` says.
    fn from_checkpoint(
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
        let (d, hd, vocab) = (c.hidden_size, c.head_dim, c.vocab_size);
        let (q_out, kv_out) = (c.num_attention_heads * hd, c.num_key_value_heads * hd);
        let ffn = c.intermediate_size;
        let mlp = |[gate, up, down]: [String; 3]| -> Result<Mlp> {
            Ok(Mlp {
                gate_proj: ld.linear(&gate, d, ffn, c.mlp_bias)?,
                up_proj: ld.linear(&up, d, ffn, c.mlp_bias)?,
                down_proj: ld.linear(&down, ffn, d, c.mlp_bias)?,
            })
        };
        let mut layers = Vec::with_capacity(c.num_hidden_layers);
        for i in 0..c.num_hidden_layers {
            let p = layer_path(i);
            let ff = match c.moe {
                None => FeedForward::Dense(mlp(MLP_PROJECTIONS.map(|n| format!("{p}.{n}")))?),
                Some(moe) => FeedForward::Moe(SparseMoe {
                    router: ld.frozen(ld.linear_weight_f32(
                        &format!("{p}.block_sparse_moe.gate"),
                        d,
                        moe.num_experts,
                    )?),
                    // Mixtral's experts name gate, up and down w1, w3 and w2.
                    experts: (0..moe.num_experts)
                        .map(|e| {
                            mlp(["w1", "w3", "w2"]
                                .map(|n| format!("{p}.block_sparse_moe.experts.{e}.{n}")))
                        })
                        .collect::<Result<_>>()?,
                    top_k: moe.experts_per_token,
                }),
            };
            let [q, k, v, o] = ATTENTION_PROJECTIONS.map(|n| format!("{p}.{n}"));
            layers.push(DecoderLayer {
                input_layernorm: ld.norm(&format!("{p}.input_layernorm"), d, c.rms_norm_eps)?,
                self_attn: Attention {
                    q_proj: ld.linear(&q, d, q_out, c.qkv_bias)?,
                    k_proj: ld.linear(&k, d, kv_out, c.qkv_bias)?,
                    v_proj: ld.linear(&v, d, kv_out, c.qkv_bias)?,
                    o_proj: ld.linear(&o, q_out, d, c.o_bias)?,
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
        let embed = ld.stored(ld.matrix("model.embed_tokens.weight", vocab, d)?);
        // Some tied checkpoints still carry lm_head.weight; an untied one must.
        let lm_head = if c.tie_word_embeddings {
            None
        } else {
            Some(ld.frozen(ld.stored(ld.linear_weight_f32("lm_head", d, vocab)?)))
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
}

/// Reads tensors by checkpoint name into frozen parameters on the target device, stored as the
/// precision says.
struct Loader<'a> {
    ck: &'a Checkpoint,
    device: &'a Device,
    precision: Precision,
}

impl Loader<'_> {
    /// `t` as a parameter no optimizer sees (the base is frozen).
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

    /// `name`, a `[rows, cols]` matrix, in f32.
    fn matrix(&self, name: &str, rows: usize, cols: usize) -> Result<Tensor<2>> {
        let values = self.ck.read_f32(name, &[rows, cols])?;
        Ok(Tensor::from_data(
            TensorData::new(values, [rows, cols]),
            self.device,
        ))
    }

    /// `name`, a vector of `n` values, in f32.
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

    /// The projection `{prefix}` (weight and optional bias), its weight stored as the precision says.
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

    /// The RMSNorm `{prefix}` (its γ in f32).
    fn norm(&self, prefix: &str, d: usize, eps: f64) -> Result<RmsNorm> {
        Ok(RmsNorm {
            gamma: self.frozen(self.vector(&format!("{prefix}.weight"), d)?),
            eps,
        })
    }
}
