//! The BERT encoder of sentence-transformers embedders (all-MiniLM-L6-v2 and kin), backend-free in burn.
//!
//! Reads like Hugging Face's `BertModel` followed by sentence-transformers' pooling:
//! embeddings (word + absolute position + token type 0, LayerNorm) → N post-LN encoder layers
//! (multi-head self-attention with the padding mask, residual, LayerNorm; exact-erf GELU feed-forward,
//! residual, LayerNorm) → mean over the attention mask → L2 normalisation. Dropout is absent (inference).
//! Weights are addressed by their checkpoint names in [`Bert::load`], the one place that maps them.

use std::path::Path;

use burn::module::{Module, Param};
use burn::nn::{Embedding, LayerNorm, LayerNormConfig, Linear};
use burn::tensor::activation::gelu;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use finefail_model::floats::{bf16_to_f32, f16_to_f32};
use safetensors::{Dtype, SafeTensors};
use serde::Deserialize;

use crate::error::{RagError, Result};

/// The `config.json` fields of a BERT checkpoint that shape the network.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct BertConfig {
    /// Word-piece vocabulary size (rows of the word embedding).
    pub vocab_size: usize,
    /// Model width d.
    pub hidden_size: usize,
    /// Number of encoder layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer; must divide `hidden_size`.
    pub num_attention_heads: usize,
    /// Feed-forward width.
    pub intermediate_size: usize,
    /// Longest input the position table covers.
    pub max_position_embeddings: usize,
    /// Rows of the token-type table (only type 0 is used).
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    /// LayerNorm epsilon.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// Activation name; only the exact `gelu` is supported.
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// Position scheme; only `absolute` is supported.
    #[serde(default = "default_pos")]
    pub position_embedding_type: String,
}

fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}
fn default_act() -> String {
    "gelu".into()
}
fn default_pos() -> String {
    "absolute".into()
}

impl BertConfig {
    /// Parses and validates `config.json`.
    pub fn from_json(text: &str, path: &Path) -> Result<Self> {
        let cfg: Self = serde_json::from_str(text).map_err(|e| {
            RagError::bad_input(format!("{}: not a BERT config: {e}", path.display()))
        })?;
        let bad = |m: String| Err(RagError::bad_input(format!("{}: {m}", path.display())));
        if cfg.hidden_act != "gelu" {
            return bad(format!(
                "hidden_act `{}` is not supported (only exact `gelu`)",
                cfg.hidden_act
            ));
        }
        if cfg.position_embedding_type != "absolute" {
            return bad(format!(
                "position_embedding_type `{}` is not supported",
                cfg.position_embedding_type
            ));
        }
        if cfg.num_attention_heads == 0 || !cfg.hidden_size.is_multiple_of(cfg.num_attention_heads)
        {
            return bad(format!(
                "hidden_size {} is not divisible by num_attention_heads {}",
                cfg.hidden_size, cfg.num_attention_heads
            ));
        }
        Ok(cfg)
    }
}

/// Embedding layer: word + position + token type (0), then LayerNorm.
#[derive(Module, Debug)]
struct Embeddings {
    word: Embedding,
    position: Param<Tensor<2>>,
    token_type: Param<Tensor<2>>,
    norm: LayerNorm,
}

/// One post-LN encoder layer.
#[derive(Module, Debug)]
struct EncoderLayer {
    query: Linear,
    key: Linear,
    value: Linear,
    attn_out: Linear,
    attn_norm: LayerNorm,
    ffn_in: Linear,
    ffn_out: Linear,
    ffn_norm: LayerNorm,
    #[module(skip)]
    heads: usize,
}

impl EncoderLayer {
    /// `x` is `[b·t, d]` (rows = tokens, so projections are plain 2-D matmuls); `padding` is
    /// `[b, h, t, t]`, true where the key is padding.
    fn forward(&self, x: Tensor<2>, padding: Tensor<4, Bool>, b: usize, t: usize) -> Tensor<2> {
        let d = x.dims()[1];
        let hd = d / self.heads;
        let split = |y: Tensor<2>| y.reshape([b, t, self.heads, hd]).swap_dims(1, 2);
        let q = split(self.query.forward(x.clone()));
        let k = split(self.key.forward(x.clone()));
        let v = split(self.value.forward(x.clone()));
        // softmax(q kᵀ / √hd, padded keys at -inf) v
        let ctx = attention(
            q,
            k,
            v,
            Some(padding),
            None,
            AttentionModuleOptions::default(),
        )
        .swap_dims(1, 2)
        .reshape([b * t, d]);
        let x = self.attn_norm.forward(x + self.attn_out.forward(ctx));
        let h = gelu(self.ffn_in.forward(x.clone()));
        self.ffn_norm.forward(x + self.ffn_out.forward(h))
    }
}

/// A BERT encoder producing sentence embeddings (mean pooled, unit length).
#[derive(Module, Debug)]
pub struct Bert {
    embeddings: Embeddings,
    layers: Vec<EncoderLayer>,
}

impl Bert {
    /// Loads the weights of `config` from a safetensors file's bytes (f32, f16 or bf16; stored as f32),
    /// with or without the `bert.` name prefix. A missing tensor or a wrong shape is a bad-input error
    /// naming the tensor and both shapes.
    pub fn load(
        config: &BertConfig,
        safetensors_bytes: &[u8],
        path: &Path,
        device: &Device,
    ) -> Result<Self> {
        let st = SafeTensors::deserialize(safetensors_bytes).map_err(|e| {
            RagError::bad_input(format!("{}: not a safetensors file: {e}", path.display()))
        })?;
        let prefix = if st.tensor("embeddings.word_embeddings.weight").is_ok() {
            ""
        } else {
            "bert."
        };
        let w = Weights {
            st,
            prefix,
            path,
            device,
        };
        let (d, ff) = (config.hidden_size, config.intermediate_size);
        let norm = |name: &str| w.layer_norm(name, d, config.layer_norm_eps);
        let embeddings = Embeddings {
            word: Embedding {
                weight: Param::from_tensor(
                    w.tensor2("embeddings.word_embeddings.weight", [config.vocab_size, d])?,
                ),
            },
            position: Param::from_tensor(w.tensor2(
                "embeddings.position_embeddings.weight",
                [config.max_position_embeddings, d],
            )?),
            token_type: Param::from_tensor(w.tensor2(
                "embeddings.token_type_embeddings.weight",
                [config.type_vocab_size, d],
            )?),
            norm: norm("embeddings.LayerNorm")?,
        };
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let p = format!("encoder.layer.{i}.");
            layers.push(EncoderLayer {
                query: w.linear(&format!("{p}attention.self.query"), d, d)?,
                key: w.linear(&format!("{p}attention.self.key"), d, d)?,
                value: w.linear(&format!("{p}attention.self.value"), d, d)?,
                attn_out: w.linear(&format!("{p}attention.output.dense"), d, d)?,
                attn_norm: norm(&format!("{p}attention.output.LayerNorm"))?,
                ffn_in: w.linear(&format!("{p}intermediate.dense"), d, ff)?,
                ffn_out: w.linear(&format!("{p}output.dense"), ff, d)?,
                ffn_norm: norm(&format!("{p}output.LayerNorm"))?,
                heads: config.num_attention_heads,
            });
        }
        Ok(Self { embeddings, layers })
    }

    /// Unit-length mean-pooled embeddings `[b, d]` of a padded batch: `ids` and `mask` are `[b, t]`
    /// (mask 1 for real tokens, 0 for padding). `t` must not exceed `max_position_embeddings`.
    pub fn embed(&self, ids: Tensor<2, Int>, mask: Tensor<2>) -> Tensor<2> {
        let [b, t] = ids.dims();
        let e = &self.embeddings;
        let d = e.position.val().dims()[1];
        let pos = e.position.val().narrow(0, 0, t).unsqueeze_dim::<3>(0);
        let tt = e.token_type.val().narrow(0, 0, 1).unsqueeze_dim::<3>(0);
        let x = e.norm.forward(e.word.forward(ids) + pos + tt);
        let heads = self.layers.first().map_or(1, |l| l.heads);
        let padding = mask
            .clone()
            .lower_elem(0.5)
            .reshape([b, 1, 1, t])
            .expand([b, heads, t, t]);
        let mut x = x.reshape([b * t, d]);
        for layer in &self.layers {
            x = layer.forward(x, padding.clone(), b, t);
        }
        let x = x.reshape([b, t, d]);
        let m = mask.unsqueeze_dim::<3>(2); // [b, t, 1]
        let summed = (x * m.clone()).sum_dim(1).reshape([b, d]);
        let counts = m.sum_dim(1).reshape([b, 1]).clamp_min(1e-9);
        let pooled = summed / counts;
        let norm = pooled
            .clone()
            .powf_scalar(2.0)
            .sum_dim(1)
            .sqrt()
            .clamp_min(1e-12);
        pooled / norm
    }
}

/// Checkpoint tensors by name, converted to f32 burn tensors with their shapes checked.
struct Weights<'a> {
    st: SafeTensors<'a>,
    prefix: &'static str,
    path: &'a Path,
    device: &'a Device,
}

impl Weights<'_> {
    fn raw(&self, name: &str, want: &[usize]) -> Result<Vec<f32>> {
        let full = format!("{}{name}", self.prefix);
        let view = self.st.tensor(&full).map_err(|_| {
            RagError::bad_input(format!(
                "{}: missing tensor `{full}` (expected shape {want:?})",
                self.path.display()
            ))
        })?;
        if view.shape() != want {
            return Err(RagError::bad_input(format!(
                "{}: tensor `{full}` has shape {:?}, expected {want:?}",
                self.path.display(),
                view.shape()
            )));
        }
        let bytes = view.data();
        let values: Vec<f32> = match view.dtype() {
            Dtype::F32 => bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            Dtype::F16 => f16_to_f32(bytes),
            Dtype::BF16 => bf16_to_f32(bytes),
            other => {
                return Err(RagError::bad_input(format!(
                    "{}: tensor `{full}` has dtype {other:?}; expected F32, F16 or BF16",
                    self.path.display()
                )))
            }
        };
        Ok(values)
    }

    fn tensor1(&self, name: &str, n: usize) -> Result<Tensor<1>> {
        let v = self.raw(name, &[n])?;
        Ok(Tensor::from_data(TensorData::new(v, [n]), self.device))
    }

    fn tensor2(&self, name: &str, shape: [usize; 2]) -> Result<Tensor<2>> {
        let v = self.raw(name, &shape)?;
        Ok(Tensor::from_data(TensorData::new(v, shape), self.device))
    }

    /// A Hugging Face `[out, in]` linear, stored transposed as burn's `[in, out]`.
    fn linear(&self, name: &str, d_in: usize, d_out: usize) -> Result<Linear> {
        let w = self.raw(&format!("{name}.weight"), &[d_out, d_in])?;
        let mut t = vec![0f32; w.len()];
        for o in 0..d_out {
            for i in 0..d_in {
                t[i * d_out + o] = w[o * d_in + i];
            }
        }
        let weight = Tensor::from_data(TensorData::new(t, [d_in, d_out]), self.device);
        let bias = self.tensor1(&format!("{name}.bias"), d_out)?;
        Ok(Linear {
            weight: Param::from_tensor(weight),
            bias: Some(Param::from_tensor(bias)),
        })
    }

    fn layer_norm(&self, name: &str, d: usize, eps: f64) -> Result<LayerNorm> {
        let mut ln = LayerNormConfig::new(d).with_epsilon(eps).init(self.device);
        ln.gamma = Param::from_tensor(self.tensor1(&format!("{name}.weight"), d)?);
        ln.beta = Some(Param::from_tensor(
            self.tensor1(&format!("{name}.bias"), d)?,
        ));
        Ok(ln)
    }
}
