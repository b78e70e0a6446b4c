//! Rebuilds a Hugging Face `tokenizer.json` from a GGUF file's `tokenizer.ggml.*` metadata.
//!
//! Supported: `tokenizer.ggml.model = gpt2` (byte-level BPE: tokens, merges, token types). The
//! pre-tokenizer follows llama.cpp's `tokenizer.ggml.pre` (its regexes in `llama-vocab.cpp`):
//! `smollm`/`starcoder` family = every digit on its own, then GPT-2's byte-level regex; `default`/
//! `gpt-2` = GPT-2's regex; `llama-bpe` (Llama 3) and `qwen2` = their split regex then byte-level.
//! Control tokens (type 3) become special added tokens, user-defined ones (type 4) plain added tokens,
//! so `<|im_start|>` in text is matched whole, as llama.cpp does with `parse_special`.

use std::path::Path;

use serde_json::{json, Map, Value};

use crate::error::{ModelError, Result};
use crate::gguf::GgufFile;

/// llama.cpp token type of a control (special) token.
const TOKEN_CONTROL: i64 = 3;
/// llama.cpp token type of a user-defined added token.
const TOKEN_USER_DEFINED: i64 = 4;

/// Llama 3's split regex (llama.cpp `LLAMA_VOCAB_PRE_TYPE_LLAMA3`).
const LLAMA3_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2's split regex (like Llama 3's but one digit at a time).
const QWEN2_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The tokenizer part of a GGUF file.
#[derive(Debug, Clone)]
pub(crate) struct GgufVocab {
    pub tokens: Vec<String>,
    pub token_types: Vec<i64>,
    pub merges: Vec<String>,
    pub pre: String,
    pub bos_id: Option<u32>,
    pub eos_id: Option<u32>,
    pub pad_id: Option<u32>,
    pub unk_id: Option<u32>,
    pub add_bos: bool,
}

impl GgufVocab {
    /// Reads the vocabulary; a tokenizer model other than `gpt2` is bad input naming it.
    pub fn from_gguf(f: &GgufFile) -> Result<Self> {
        let model = f.require_str("tokenizer.ggml.model")?;
        if model != "gpt2" {
            return Err(ModelError::bad_input(
                f.path(),
                format!("unsupported GGUF tokenizer model `{model}` (only byte-level BPE `gpt2` converts today)"),
            ));
        }
        let tokens: Vec<String> = f
            .require_str_array("tokenizer.ggml.tokens")?
            .into_iter()
            .map(String::from)
            .collect();
        let merges: Vec<String> = f
            .require_str_array("tokenizer.ggml.merges")?
            .into_iter()
            .map(String::from)
            .collect();
        let token_types = match f
            .get("tokenizer.ggml.token_type")
            .and_then(|v| v.as_array())
        {
            Some(a) => a.iter().map(|v| v.as_i64().unwrap_or(1)).collect(),
            None => vec![1; tokens.len()],
        };
        if token_types.len() != tokens.len() {
            return Err(ModelError::bad_input(
                f.path(),
                "tokenizer.ggml.token_type and tokens differ in length",
            ));
        }
        let id = |k: &str| -> Result<Option<u32>> {
            match f.get(k).and_then(|v| v.as_u64()) {
                Some(i) if (i as usize) < tokens.len() => Ok(Some(i as u32)),
                Some(i) => Err(ModelError::bad_input(
                    f.path(),
                    format!("{k} = {i} is outside the vocabulary"),
                )),
                None => Ok(None),
            }
        };
        let bos_id = id("tokenizer.ggml.bos_token_id")?;
        let eos_id = id("tokenizer.ggml.eos_token_id")?;
        Ok(Self {
            pre: f
                .get("tokenizer.ggml.pre")
                .and_then(|v| v.as_str())
                .unwrap_or("default")
                .to_string(),
            bos_id,
            eos_id,
            pad_id: id("tokenizer.ggml.padding_token_id")?.or(eos_id),
            unk_id: id("tokenizer.ggml.unknown_token_id")?,
            add_bos: f
                .get("tokenizer.ggml.add_bos_token")
                .and_then(|v| v.as_bool())
                .unwrap_or(false),
            tokens,
            token_types,
            merges,
        })
    }

    /// Ids of the tokens that become added tokens (control and user-defined).
    pub fn added_token_ids(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.tokens.len())
            .filter(|&i| matches!(self.token_types[i], TOKEN_CONTROL | TOKEN_USER_DEFINED))
    }
}

/// The pre-tokenizer JSON for llama.cpp's `tokenizer.ggml.pre` name.
fn pre_tokenizer(pre: &str, path: &Path) -> Result<Value> {
    let byte_level = |use_regex: bool| json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": use_regex});
    let split = |regex: &str| json!({"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": false});
    Ok(match pre {
        "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone" | "minerva" => json!({
            "type": "Sequence",
            "pretokenizers": [{"type": "Digits", "individual_digits": true}, byte_level(true)],
        }),
        "default" | "gpt-2" | "gpt2" => byte_level(true),
        "llama-bpe" | "llama3" => json!({"type": "Sequence", "pretokenizers": [split(LLAMA3_REGEX), byte_level(false)]}),
        "qwen2" => json!({"type": "Sequence", "pretokenizers": [split(QWEN2_REGEX), byte_level(false)]}),
        other => {
            return Err(ModelError::bad_input(
                path,
                format!("unsupported tokenizer.ggml.pre `{other}` (supported: smollm, starcoder, gpt-2, llama-bpe, qwen2)"),
            ))
        }
    })
}

/// Builds the `tokenizer.json` value and checks that the `tokenizers` crate accepts it.
pub(crate) fn build(v: &GgufVocab, path: &Path) -> Result<Value> {
    let vocab: Map<String, Value> = v
        .tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), json!(i)))
        .collect();
    let mut merges = Vec::with_capacity(v.merges.len());
    for m in &v.merges {
        // llama.cpp splits at the first space after the first character.
        let split = m
            .char_indices()
            .skip(1)
            .find(|&(_, c)| c == ' ')
            .map(|(i, _)| i);
        let i =
            split.ok_or_else(|| ModelError::bad_input(path, format!("malformed merge `{m}`")))?;
        merges.push(json!([&m[..i], &m[i + 1..]]));
    }
    let added: Vec<Value> = v
        .added_token_ids()
        .map(|i| {
            json!({"id": i, "content": v.tokens[i], "single_word": false, "lstrip": false, "rstrip": false,
                   "normalized": false, "special": v.token_types[i] == TOKEN_CONTROL})
        })
        .collect();
    let post_processor = match (v.add_bos, v.bos_id) {
        (true, Some(bos)) => {
            let bos_tok = &v.tokens[bos as usize];
            json!({
                "type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": bos_tok, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                "pair": [{"SpecialToken": {"id": bos_tok, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                         {"SpecialToken": {"id": bos_tok, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {bos_tok.clone(): {"id": bos_tok, "ids": [bos], "tokens": [bos_tok]}},
            })
        }
        _ => {
            json!({"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true})
        }
    };
    let tok = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": pre_tokenizer(&v.pre, path)?,
        "post_processor": post_processor,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {
            "type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
            "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
            // llama.cpp (like HF) looks whole words up in the vocabulary first for Llama 3.
            "ignore_merges": matches!(v.pre.as_str(), "llama-bpe" | "llama3"),
            "vocab": vocab, "merges": merges,
        },
    });
    let text = serde_json::to_string(&tok).map_err(|e| ModelError::Other(e.to_string()))?;
    tokenizers::Tokenizer::from_bytes(text.as_bytes())
        .map_err(|e| ModelError::Other(format!("rebuilt tokenizer.json does not load: {e}")))?;
    Ok(tok)
}
