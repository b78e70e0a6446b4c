//! The run's files and their formats: checking the output directory, `metrics.jsonl` (one
//! [`StepMetrics`] row per step plus validation rows, rewritten atomically after every row), the
//! final adapter and `train_summary.json` ([`TrainSummary`]).

use crate::checkpoint;
use crate::config::{FinetuneSettings, Keep};
use crate::error::{Result, TrainError};
use crate::state::LoopState;
use finefail_core::atomic::StagedDir;
use finefail_model::llama::Llama;
use finefail_model::peft::{save_adapter, AdapterConfig};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// One optimizer step's numbers (a `metrics.jsonl` row with `"kind": "train"`), for plotting
/// training curves and for the progress bar.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepMetrics {
    /// Optimizer step (1-based).
    pub step: usize,
    /// Total optimizer steps of the run.
    pub total_steps: usize,
    /// Epoch (1-based).
    pub epoch: usize,
    /// Per-token mean cross-entropy over the batch's answer tokens.
    pub loss: f64,
    /// Learning rate used by this step.
    pub lr: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Tokens (prompt + answer) in the batch.
    pub tokens: usize,
    /// Tokens per second of this step.
    pub tokens_per_s: f64,
    /// Training seconds so far (across resumes).
    pub elapsed_s: f64,
}

/// `train_summary.json`: what a finished run did and which adapter it left, with the seed, size and
/// settings that made it, so the file explains itself.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainSummary {
    /// Training examples.
    pub examples: usize,
    /// Validation examples.
    pub val_examples: usize,
    /// Tokens (prompt + answer) processed, all steps.
    pub tokens: u64,
    /// Answer tokens (loss targets) processed.
    pub answer_tokens: u64,
    /// Optimizer steps done.
    pub steps: usize,
    /// Epochs started.
    pub epochs: usize,
    /// Training seconds (across resumes).
    pub wall_time_s: f64,
    /// Loss of the last step.
    pub final_loss: Option<f64>,
    /// Validation loss before the first optimizer step, when the run validates (the report flags
    /// a fine-tune whose validation loss barely moved); not written when it does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initial_val_loss: Option<f64>,
    /// Last validation loss.
    pub final_val_loss: Option<f64>,
    /// Lowest validation loss.
    pub best_val_loss: Option<f64>,
    /// Step of the lowest validation loss.
    pub best_step: Option<usize>,
    /// Which adapter `OUT/adapter` holds: `best` or `last`.
    pub kept: Keep,
    /// The step of the adapter in `OUT/adapter`.
    pub adapter_step: usize,
    /// True when early stopping ended the run.
    pub stopped_early: bool,
    /// sha256 of `OUT/adapter/adapter_model.safetensors`.
    pub adapter_sha256: String,
    /// The run's seed.
    pub seed: u64,
    /// Training subset size.
    pub size: usize,
    /// The settings.
    pub config: FinetuneSettings,
}

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
        finefail_core::atomic::write_file(&self.path, text.as_bytes())?;
        Ok(())
    }
}

/// sha256 of a file, hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| TrainError::io(path, e))?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

/// Copies an adapter directory to `dst` atomically (a staged copy swapped in; the old `dst` stays
/// until the copy is complete).
fn copy_adapter(src: &Path, dst: &Path) -> Result<()> {
    let staged = StagedDir::new(dst)?;
    for entry in std::fs::read_dir(src).map_err(|e| TrainError::io(src, e))? {
        let entry = entry.map_err(|e| TrainError::io(src, e))?;
        let to = staged.path().join(entry.file_name());
        std::fs::copy(entry.path(), &to).map_err(|e| TrainError::io(&to, e))?;
    }
    Ok(staged.commit()?)
}

/// Puts the adapter that `keep` asks for into `out` (`OUT/adapter/`): the copy kept aside at the
/// best validation, or the model's current weights (`last`, or `best` when nothing was validated).
/// Returns which one it wrote and that adapter's step, for `train_summary.json`.
pub fn write_adapter(
    out: &Path,
    ck_root: &Path,
    model: &Llama,
    adapter_cfg: &AdapterConfig,
    keep: Keep,
    st: &LoopState,
) -> Result<(Keep, usize)> {
    match st.best_val {
        Some((_, step)) if keep == Keep::Best => {
            copy_adapter(&checkpoint::best_dir(ck_root, step), out)?;
            Ok((Keep::Best, step))
        }
        _ => {
            save_adapter(model, out, adapter_cfg)?;
            Ok((Keep::Last, st.step))
        }
    }
}
