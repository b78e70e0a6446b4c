//! The tokenizer of a Hugging Face checkpoint directory: `tokenizer.json` through the `tokenizers`
//! crate, plus the special-token ids (bos, eos, pad) that generation needs, gathered from
//! `tokenizer_config.json`, `generation_config.json` and `config.json` the way transformers does.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{ModelError, Result};

/// A loaded tokenizer with the special-token ids generation and batching rely on.
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    path: PathBuf,
    eos_ids: Vec<u32>,
    pad_id: u32,
    bos_id: Option<u32>,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("path", &self.path)
            .field("vocab_size", &self.vocab_size())
            .field("eos_ids", &self.eos_ids)
            .field("pad_id", &self.pad_id)
            .finish()
    }
}

/// Reads an optional JSON file of the checkpoint; a malformed one is bad input.
pub(crate) fn read_optional_json(path: &Path) -> Result<Option<Value>> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| ModelError::bad_input(path, format!("invalid JSON: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ModelError::io(path, e)),
    }
}

/// A special token in `tokenizer_config.json`: a plain string or an AddedToken object.
pub(crate) fn token_content(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("content").and_then(Value::as_str).map(String::from),
        _ => None,
    }
}

/// An id field that may be a number or a list of numbers (`eos_token_id: [128001, 128009]`).
fn ids_of(v: Option<&Value>) -> Vec<u32> {
    match v {
        Some(Value::Number(n)) => n.as_u64().map(|i| vec![i as u32]).unwrap_or_default(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_u64())
            .map(|i| i as u32)
            .collect(),
        _ => Vec::new(),
    }
}

impl Tokenizer {
    /// Loads `dir/tokenizer.json` and the special-token ids of the directory.
    pub fn from_dir(dir: &Path) -> Result<Tokenizer> {
        let path = dir.join("tokenizer.json");
        if !path.exists() {
            return Err(ModelError::bad_input(&path, "tokenizer.json not found"));
        }
        let inner = tokenizers::Tokenizer::from_file(&path)
            .map_err(|e| ModelError::bad_input(&path, format!("cannot load tokenizer: {e}")))?;
        let tok_cfg = read_optional_json(&dir.join("tokenizer_config.json"))?;
        let gen_cfg = read_optional_json(&dir.join("generation_config.json"))?;
        let model_cfg = read_optional_json(&dir.join("config.json"))?;
        let by_name = |key: &str| {
            let content = token_content(tok_cfg.as_ref().and_then(|c| c.get(key)))?;
            inner.token_to_id(&content)
        };
        let field = |cfg: &Option<Value>, key: &str| ids_of(cfg.as_ref().and_then(|c| c.get(key)));

        let mut eos_ids = Vec::new();
        for id in field(&gen_cfg, "eos_token_id")
            .into_iter()
            .chain(field(&model_cfg, "eos_token_id"))
            .chain(by_name("eos_token"))
        {
            if !eos_ids.contains(&id) {
                eos_ids.push(id);
            }
        }
        let bos_id = by_name("bos_token")
            .or_else(|| field(&gen_cfg, "bos_token_id").first().copied())
            .or_else(|| field(&model_cfg, "bos_token_id").first().copied());
        let pad_id = by_name("pad_token")
            .or_else(|| field(&gen_cfg, "pad_token_id").first().copied())
            .or_else(|| field(&model_cfg, "pad_token_id").first().copied())
            .or_else(|| eos_ids.first().copied())
            .unwrap_or(0);
        Ok(Tokenizer {
            inner,
            path,
            eos_ids,
            pad_id,
            bos_id,
        })
    }

    /// Token ids of `text`; `add_special_tokens` applies the tokenizer's post-processor (e.g. BOS).
    /// Special tokens written in the text (`<|im_start|>`) are always matched whole.
    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>> {
        let enc = self.inner.encode(text, add_special_tokens).map_err(|e| {
            ModelError::Other(format!("{}: encode failed: {e}", self.path.display()))
        })?;
        Ok(enc.get_ids().to_vec())
    }

    /// Text of `ids`; `skip_special_tokens` drops special tokens such as `<|im_end|>`.
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String> {
        self.inner
            .decode(ids, skip_special_tokens)
            .map_err(|e| ModelError::Other(format!("{}: decode failed: {e}", self.path.display())))
    }

    /// Number of tokens including added tokens (must not exceed the embedding's rows).
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Every id that ends generation (generation_config, config and tokenizer_config combined).
    pub fn eos_token_ids(&self) -> Vec<u32> {
        self.eos_ids.clone()
    }

    /// Id used to left-pad batches (pad token, else the first eos, else 0).
    pub fn pad_token_id(&self) -> u32 {
        self.pad_id
    }

    /// Id of the beginning-of-sequence token, when the checkpoint names one.
    pub fn bos_token_id(&self) -> Option<u32> {
        self.bos_id
    }

    /// Id of a token string (e.g. `<|im_end|>`), for stop tokens and checks.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// The token string of an id.
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }
}
