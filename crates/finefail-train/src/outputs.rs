//! The run's files: checking the output directory, reading retrieved contexts for `rag` examples,
//! `metrics.jsonl` (rewritten atomically after every step) and the final adapter and
//! `train_summary.json`.

use crate::checkpoint::{self, LoopState};
use crate::error::{Result, TrainError};
use crate::recipe::{FinetuneRequest, StepMetrics, TrainSummary};
use finefail_model::llama::Llama;
use finefail_model::peft::{save_adapter, AdapterConfig, WEIGHTS_FILE};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Creates the output directory and checks it is writable (bad input otherwise).
pub fn prepare_out_dir(out: &Path) -> Result<()> {
    let unwritable = |e: std::io::Error| {
        TrainError::bad_input(out, format!("the output directory cannot be written: {e}"))
    };
    std::fs::create_dir_all(out).map_err(unwritable)?;
    let probe = out.join(format!(".write-probe-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(unwritable)?;
    std::fs::remove_file(&probe).map_err(unwritable)
}

/// Each question's top-k chunk texts, by rank, from `RETRIEVAL/retrieval.parquet` and
/// `DATA/chunks.parquet`.
pub fn load_contexts(req: &FinetuneRequest) -> Result<HashMap<String, Vec<String>>> {
    let dir = req.retrieval_dir.as_ref().ok_or_else(|| {
        TrainError::bad_input(
            "--retrieval",
            "train.format = \"rag\" needs a retrieval directory (--retrieval DIR)",
        )
    })?;
    let path = dir.join("retrieval.parquet");
    if !path.is_file() {
        return Err(TrainError::bad_input(
            &path,
            "retrieval.parquet not found (run `finefail retrieve` first)",
        ));
    }
    let rows = finefail_rag::tables::read_retrieval(&path)?;
    let chunks: HashMap<String, String> = finefail_data::tables::read_chunks(
        &req.data_dir.join(finefail_data::prepare::files::CHUNKS),
    )?
    .into_iter()
    .map(|c| (c.chunk_id, c.text))
    .collect();
    let mut ranked: HashMap<String, Vec<(u32, String)>> = HashMap::new();
    for r in rows {
        if r.rank as usize > req.rag_top_k {
            continue;
        }
        let text = chunks.get(&r.chunk_id).ok_or_else(|| {
            TrainError::bad_input(
                &path,
                format!("chunk `{}` is not in chunks.parquet", r.chunk_id),
            )
        })?;
        ranked
            .entry(r.question_id)
            .or_default()
            .push((r.rank, text.clone()));
    }
    Ok(ranked
        .into_iter()
        .map(|(q, mut v)| {
            v.sort_by_key(|(rank, _)| *rank);
            (q, v.into_iter().map(|(_, t)| t).collect())
        })
        .collect())
}

/// `metrics.jsonl`, kept in memory and rewritten atomically after each row.
pub struct Metrics {
    path: PathBuf,
    lines: Vec<String>,
}

impl Metrics {
    /// Starts the file afresh, or (resume) keeps the rows up to `step` — rows of steps a killed run
    /// did after its last checkpoint are dropped, since they are run again.
    pub fn open(path: &Path, step: usize, resume: bool) -> Result<Self> {
        let mut lines = Vec::new();
        if resume {
            if let Ok(text) = std::fs::read_to_string(path) {
                for line in text.lines() {
                    let keep = serde_json::from_str::<serde_json::Value>(line)
                        .ok()
                        .and_then(|v| v["step"].as_u64())
                        .is_some_and(|s| s as usize <= step);
                    if keep {
                        lines.push(line.to_string());
                    }
                }
            }
        }
        let m = Self {
            path: path.to_path_buf(),
            lines,
        };
        m.write()?;
        Ok(m)
    }

    /// Appends a training row.
    pub fn push_train(&mut self, row: &StepMetrics) -> Result<()> {
        let mut v = serde_json::to_value(row).map_err(|e| TrainError::Other(e.to_string()))?;
        v["kind"] = "train".into();
        self.lines.push(v.to_string());
        self.write()
    }

    /// Appends a validation row.
    pub fn push_val(&mut self, step: usize, epoch: usize, val_loss: f64, best: bool) -> Result<()> {
        let v = serde_json::json!({"kind": "val", "step": step, "epoch": epoch, "val_loss": val_loss, "best": best});
        self.lines.push(v.to_string());
        self.write()
    }

    fn write(&self) -> Result<()> {
        let mut text = self.lines.join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        finefail_data::atomic::write_file(&self.path, text.as_bytes())?;
        Ok(())
    }
}

/// sha256 of a file, hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| TrainError::io(path, e))?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

/// Copies an adapter directory to `dst` through a temporary sibling and a rename.
fn copy_adapter(src: &Path, dst: &Path) -> Result<()> {
    let parent = dst.parent().unwrap_or(Path::new("."));
    let tmp = parent.join(format!(".adapter.tmp-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| TrainError::io(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| TrainError::io(&tmp, e))?;
    for entry in std::fs::read_dir(src).map_err(|e| TrainError::io(src, e))? {
        let entry = entry.map_err(|e| TrainError::io(src, e))?;
        let to = tmp.join(entry.file_name());
        std::fs::copy(entry.path(), &to).map_err(|e| TrainError::io(&to, e))?;
    }
    if dst.exists() {
        std::fs::remove_dir_all(dst).map_err(|e| TrainError::io(dst, e))?;
    }
    std::fs::rename(&tmp, dst).map_err(|e| TrainError::io(dst, e))
}

/// Writes `OUT/adapter/` (the best or the last adapter) and `OUT/train_summary.json`.
pub fn finish(
    req: &FinetuneRequest,
    model: &Llama,
    adapter_cfg: &AdapterConfig,
    st: &LoopState,
    examples: usize,
    val_examples: usize,
    ck_root: &Path,
) -> Result<TrainSummary> {
    let out = req.out_dir.join("adapter");
    let (kept, adapter_step) = match st.best_val {
        Some((_, step)) if req.settings.train.keep == "best" => {
            copy_adapter(&checkpoint::best_dir(ck_root, step), &out)?;
            ("best", step)
        }
        _ => {
            save_adapter(model, &out, adapter_cfg)?;
            ("last", st.step)
        }
    };
    let summary = TrainSummary {
        examples,
        val_examples,
        tokens: st.tokens,
        answer_tokens: st.answer_tokens,
        steps: st.step,
        epochs: st.epoch,
        wall_time_s: st.elapsed_s,
        final_loss: st.last_loss,
        final_val_loss: st.last_val,
        best_val_loss: st.best_val.map(|b| b.0),
        best_step: st.best_val.map(|b| b.1),
        kept: kept.into(),
        adapter_step,
        stopped_early: st.stopped_early,
        adapter_sha256: sha256_file(&out.join(WEIGHTS_FILE))?,
        seed: req.seed,
        size: req.size,
        config: req.settings.clone(),
    };
    finefail_data::atomic::write_json(&req.out_dir.join("train_summary.json"), &summary)?;
    Ok(summary)
}
