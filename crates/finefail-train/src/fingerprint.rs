//! Which run a checkpoint belongs to: a fingerprint of everything that decides the adapter, saved in
//! every checkpoint, so that `resume` refuses to continue another run's checkpoint and says why.

use crate::error::{Result, TrainError};
use crate::examples::Example;
use crate::request::FinetuneRequest;
use sha2::{Digest, Sha256};
use std::path::Path;

/// sha256 over everything that decides the adapter: settings, seed, size, top-k, the tokenized
/// training and validation examples, and the base model's config and weight file sizes.
pub fn fingerprint(req: &FinetuneRequest, train: &[Example], val: &[Example]) -> Result<String> {
    let mut h = Sha256::new();
    let settings =
        serde_json::to_string(&req.settings).map_err(|e| TrainError::Other(e.to_string()))?;
    h.update(settings.as_bytes());
    h.update(
        format!(
            "|seed={}|size={}|top_k={}|",
            req.seed, req.size, req.rag_top_k
        )
        .as_bytes(),
    );
    for (tag, set) in [("train", train), ("val", val)] {
        h.update(tag.as_bytes());
        for e in set {
            h.update(e.id.as_bytes());
            h.update(e.prompt_len.to_le_bytes());
            for t in &e.tokens {
                h.update(t.to_le_bytes());
            }
        }
    }
    let cfg = req.model_dir.join("config.json");
    h.update(std::fs::read(&cfg).map_err(|e| TrainError::io(&cfg, e))?);
    if let Ok(entries) = std::fs::read_dir(&req.model_dir) {
        let mut sizes: Vec<(String, u64)> = entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".safetensors"))
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    e.metadata().map(|m| m.len()).unwrap_or(0),
                )
            })
            .collect();
        sizes.sort();
        h.update(format!("{sizes:?}").as_bytes());
    }
    Ok(hex::encode(h.finalize()))
}

/// The refusal to resume a checkpoint of another run, naming the settings that differ.
pub fn mismatch(dir: &Path, old: &serde_json::Value, new: &serde_json::Value) -> TrainError {
    let mut diffs = Vec::new();
    for table in ["train", "lora"] {
        if let (Some(o), Some(n)) = (old[table].as_object(), new[table].as_object()) {
            for (k, v) in n {
                if o.get(k) != Some(v) {
                    diffs.push(format!(
                        "{table}.{k}: {} → {}",
                        o.get(k).unwrap_or(&serde_json::Value::Null),
                        v
                    ));
                }
            }
        }
    }
    let what = if diffs.is_empty() {
        "the data, seed, size, chat template or base model differ".to_string()
    } else {
        format!("settings differ ({})", diffs.join(", "))
    };
    TrainError::bad_input(
        dir,
        format!("cannot resume: this checkpoint belongs to another run: {what}; use a fresh --out or the original settings"),
    )
}
