//! Resumable checkpoints: `OUT/checkpoints/step-N/` holds the adapter (PEFT layout), the AdamW
//! moments (`optimizer.safetensors`, keyed by adapter tensor name) and `state.json` (the
//! [`LoopState`]: scheduler step, shuffling RNG state, the epoch's batch plan and cursor,
//! early-stopping state, the run's fingerprint).
//! A checkpoint is built in a temporary sibling directory and renamed into place, so a `step-N`
//! directory is always complete; leftovers of an interrupted write are ignored and cleaned up.

use crate::adamw::{AdamWState, Moments};
use crate::error::{Result, TrainError};
use crate::state::LoopState;
use finefail_core::atomic::StagedDir;
use finefail_model::llama::Llama;
use finefail_model::peft::{save_adapter, AdapterConfig};
use finefail_model::weights::{write_safetensors, Checkpoint};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Adapter subdirectory of a checkpoint.
pub const ADAPTER_DIR: &str = "adapter";
/// Optimizer moments of a checkpoint.
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
/// Loop state of a checkpoint.
pub const STATE_FILE: &str = "state.json";
/// How many `step-N` checkpoints are kept (older ones are deleted after a new one is complete).
pub const KEEP_CHECKPOINTS: usize = 2;

/// Path of the checkpoint of `step`.
pub fn step_dir(root: &Path, step: usize) -> PathBuf {
    root.join(format!("step-{step}"))
}

/// Path of the adapter kept for the validation at `step` (for `keep = "best"`).
pub fn best_dir(root: &Path, step: usize) -> PathBuf {
    root.join(format!("best-step-{step}"))
}

/// Removes every `best-step-N` directory except the one of `keep` (the best step a saved checkpoint
/// refers to). Called only after a checkpoint is on disk, so a resume always finds its best adapter.
pub fn prune_best(root: &Path, keep: Option<usize>) -> Result<()> {
    let keep_name = keep.map(|s| format!("best-step-{s}"));
    let Ok(entries) = std::fs::read_dir(root) else {
        return Ok(());
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("best-step-") && Some(&name) != keep_name.as_ref() {
            std::fs::remove_dir_all(e.path()).map_err(|err| TrainError::io(e.path(), err))?;
        }
    }
    Ok(())
}

/// Complete checkpoints under `root`, by step, ascending.
pub fn list(root: &Path) -> Result<Vec<(usize, PathBuf)>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(TrainError::io(root, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| TrainError::io(root, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(n) = name
            .strip_prefix("step-")
            .and_then(|n| n.parse::<usize>().ok())
        {
            if entry.path().join(STATE_FILE).is_file() {
                out.push((n, entry.path()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Removes leftovers of interrupted writes (staged checkpoint directories) under `root`.
pub fn clean_partial(root: &Path) {
    finefail_core::atomic::remove_stale_temporaries(root, &[]);
}

/// Writes checkpoint `step-N` atomically (staged, then swapped in) and prunes older ones.
pub fn save(
    root: &Path,
    model: &Llama,
    adapter_cfg: &AdapterConfig,
    adam: &AdamWState,
    state: &LoopState,
) -> Result<()> {
    let dst = step_dir(root, state.step);
    let staged = StagedDir::new(&dst)?;
    let tmp = staged.path();
    save_adapter(model, &tmp.join(ADAPTER_DIR), adapter_cfg)?;
    let mut tensors = Vec::new();
    for (name, m) in &adam.moments {
        tensors.push((format!("{name}.m"), vec![m.m.len()], m.m.clone()));
        tensors.push((format!("{name}.v"), vec![m.v.len()], m.v.clone()));
    }
    if tensors.is_empty() {
        // safetensors needs at least a header; keep an explicit marker of an unstepped optimizer
        tensors.push(("__empty__".into(), vec![1], vec![0.0]));
    }
    write_safetensors(&tmp.join(OPTIMIZER_FILE), tensors)?;
    let mut json = serde_json::to_value(state).map_err(|e| TrainError::Other(e.to_string()))?;
    json["adam_step"] = adam.step.into();
    let text = serde_json::to_string_pretty(&json).map_err(|e| TrainError::Other(e.to_string()))?;
    let state_path = tmp.join(STATE_FILE);
    std::fs::write(&state_path, text).map_err(|e| TrainError::io(&state_path, e))?;
    staged.commit()?;
    let all = list(root)?;
    if all.len() > KEEP_CHECKPOINTS {
        for (_, p) in &all[..all.len() - KEEP_CHECKPOINTS] {
            std::fs::remove_dir_all(p).map_err(|e| TrainError::io(p, e))?;
        }
    }
    Ok(())
}

/// Reads a checkpoint's loop state and optimizer state (the adapter is loaded by the caller).
pub fn load(dir: &Path) -> Result<(LoopState, AdamWState)> {
    let state_path = dir.join(STATE_FILE);
    let text = std::fs::read_to_string(&state_path).map_err(|e| TrainError::io(&state_path, e))?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        TrainError::bad_input(&state_path, format!("corrupt checkpoint state: {e}"))
    })?;
    let adam_step = json.get("adam_step").and_then(|v| v.as_u64()).unwrap_or(0);
    let state: LoopState = serde_json::from_value(json).map_err(|e| {
        TrainError::bad_input(&state_path, format!("corrupt checkpoint state: {e}"))
    })?;
    let opt_path = dir.join(OPTIMIZER_FILE);
    let ck = Checkpoint::open_files(dir, std::slice::from_ref(&opt_path))?;
    let mut moments: BTreeMap<String, Moments> = BTreeMap::new();
    for name in ck.names() {
        let Some(base) = name.strip_suffix(".m") else {
            continue;
        };
        let len = ck.info(name).map(|(s, _)| s.iter().product()).unwrap_or(0);
        let m = ck.read_f32(name, &[len])?;
        let v = ck.read_f32(&format!("{base}.v"), &[len])?;
        moments.insert(base.to_string(), Moments { m, v });
    }
    Ok((
        state,
        AdamWState {
            step: adam_step,
            moments,
        },
    ))
}
