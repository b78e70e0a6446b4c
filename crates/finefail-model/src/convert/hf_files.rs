//! The JSON files of the converted directory: `config.json`, `tokenizer_config.json`,
//! `generation_config.json`, built from GGUF metadata with Hugging Face's field names.

use std::path::Path;

use serde_json::{json, Value};

use crate::convert::out_dtype::OutDtype;
use crate::convert::tokenizer_json::GgufVocab;
use crate::error::{ModelError, Result};
use crate::gguf::GgufFile;

/// The `llama.*` hyper-parameters of a GGUF file.
#[derive(Debug, Clone)]
pub(crate) struct LlamaParams {
    pub n_layers: usize,
    pub hidden: usize,
    pub intermediate: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    pub context_length: usize,
    pub rms_eps: f64,
    pub rope_theta: f64,
    /// `(type, factor)` from `llama.rope.scaling.*` when present (only `linear` is accepted).
    pub rope_scaling: Option<(String, f64)>,
    pub chat_template: Option<String>,
}

/// An f32 metadata value as the short decimal a person wrote (`1e-5`, not `9.99999974e-6`).
fn short_f64(v: &crate::gguf::GgufValue) -> Option<f64> {
    match v {
        crate::gguf::GgufValue::F32(x) => format!("{x}").parse().ok(),
        other => other.as_f64(),
    }
}

impl LlamaParams {
    /// Reads and sanity-checks the hyper-parameters; missing required keys are bad input.
    pub fn from_gguf(f: &GgufFile) -> Result<Self> {
        let u = |k: &str| f.require_u64(k).map(|v| v as usize);
        let n_heads = u("llama.attention.head_count")?;
        let hidden = u("llama.embedding_length")?;
        let n_kv_heads = match f.get("llama.attention.head_count_kv") {
            Some(v) => v.as_u64().map(|v| v as usize).unwrap_or(n_heads),
            None => n_heads,
        };
        if n_heads == 0 || n_kv_heads == 0 || !n_heads.is_multiple_of(n_kv_heads) {
            return Err(ModelError::bad_input(
                f.path(),
                format!("inconsistent head counts: {n_heads} heads, {n_kv_heads} kv heads"),
            ));
        }
        let head_dim = match f.get("llama.attention.key_length").and_then(|v| v.as_u64()) {
            Some(v) => v as usize,
            None => hidden / n_heads,
        };
        if head_dim == 0 || !head_dim.is_multiple_of(2) {
            return Err(ModelError::bad_input(
                f.path(),
                format!("head dim {head_dim} must be even and > 0"),
            ));
        }
        if let Some(rot) = f.get("llama.rope.dimension_count").and_then(|v| v.as_u64()) {
            if rot as usize != head_dim {
                return Err(ModelError::bad_input(
                    f.path(),
                    format!(
                        "partial rotary (rope dim {rot} < head dim {head_dim}) is not supported"
                    ),
                ));
            }
        }
        let rope_scaling = match f.get("llama.rope.scaling.type").and_then(|v| v.as_str()) {
            None | Some("none") => None,
            Some("linear") => {
                let factor = f
                    .get("llama.rope.scaling.factor")
                    .and_then(short_f64)
                    .unwrap_or(1.0);
                Some(("linear".to_string(), factor))
            }
            Some(other) => {
                return Err(ModelError::bad_input(
                    f.path(),
                    format!("unsupported rope scaling `{other}`"),
                ));
            }
        };
        Ok(Self {
            n_layers: u("llama.block_count")?,
            hidden,
            intermediate: u("llama.feed_forward_length")?,
            n_heads,
            n_kv_heads,
            head_dim,
            context_length: f
                .get("llama.context_length")
                .and_then(|v| v.as_u64())
                .unwrap_or(2048) as usize,
            rms_eps: f
                .get("llama.attention.layer_norm_rms_epsilon")
                .and_then(short_f64)
                .unwrap_or(1e-5),
            rope_theta: f
                .get("llama.rope.freq_base")
                .and_then(short_f64)
                .unwrap_or(10000.0),
            rope_scaling,
            chat_template: f
                .get("tokenizer.chat_template")
                .and_then(|v| v.as_str())
                .map(String::from),
        })
    }
}

/// `config.json` for `LlamaForCausalLM`.
pub(crate) fn config_json(
    p: &LlamaParams,
    vocab: &GgufVocab,
    tied: bool,
    dtype: OutDtype,
) -> Value {
    let rope_scaling = match &p.rope_scaling {
        Some((ty, factor)) => json!({"type": ty, "rope_type": ty, "factor": factor}),
        None => Value::Null,
    };
    json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": p.hidden,
        "intermediate_size": p.intermediate,
        "num_hidden_layers": p.n_layers,
        "num_attention_heads": p.n_heads,
        "num_key_value_heads": p.n_kv_heads,
        "head_dim": p.head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": p.context_length,
        "rms_norm_eps": p.rms_eps,
        "rope_theta": p.rope_theta,
        "rope_scaling": rope_scaling,
        "attention_bias": false,
        "mlp_bias": false,
        "tie_word_embeddings": tied,
        "vocab_size": vocab.tokens.len(),
        "bos_token_id": vocab.bos_id,
        "eos_token_id": vocab.eos_id,
        "pad_token_id": vocab.pad_id,
        "torch_dtype": dtype.torch_dtype(),
    })
}

/// `tokenizer_config.json`: special tokens by content, chat template, bos handling.
pub(crate) fn tokenizer_config_json(p: &LlamaParams, vocab: &GgufVocab) -> Value {
    let tok = |id: Option<u32>| match id.and_then(|i| vocab.tokens.get(i as usize)) {
        Some(s) => Value::String(s.clone()),
        None => Value::Null,
    };
    let added: serde_json::Map<String, Value> = vocab
        .added_token_ids()
        .map(|id| {
            let special = vocab.token_types.get(id).copied() == Some(3);
            (
                id.to_string(),
                json!({"content": vocab.tokens[id], "lstrip": false, "normalized": false,
                       "rstrip": false, "single_word": false, "special": special}),
            )
        })
        .collect();
    let mut cfg = json!({
        "add_bos_token": vocab.add_bos,
        "add_eos_token": false,
        "added_tokens_decoder": added,
        "bos_token": tok(vocab.bos_id),
        "eos_token": tok(vocab.eos_id),
        "pad_token": tok(vocab.pad_id),
        "unk_token": tok(vocab.unk_id),
        "clean_up_tokenization_spaces": false,
        "model_max_length": p.context_length,
        "tokenizer_class": "PreTrainedTokenizerFast",
    });
    if let Some(t) = &p.chat_template {
        cfg["chat_template"] = Value::String(t.clone());
    }
    cfg
}

/// `generation_config.json`: the ids generation stops and pads with.
pub(crate) fn generation_config_json(vocab: &GgufVocab) -> Value {
    json!({"bos_token_id": vocab.bos_id, "eos_token_id": vocab.eos_id, "pad_token_id": vocab.pad_id})
}

/// Pretty-prints `value` to `path`.
pub(crate) fn write_json(path: &Path, value: &Value) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| ModelError::Other(e.to_string()))?;
    std::fs::write(path, text).map_err(|e| ModelError::io(path, e))
}
