//! `manifest.json`: the config and its hash, the finefail version, the git commit, the seeds and
//! every step's input hash, output hash, wall time and code version — so every result file of a
//! run can be traced to what made it — and `kept_stale`: the steps made by other code that
//! `--keep-stale` reused, with their recorded and current code versions (empty otherwise). Written after every execution, local or Slurm, replacing the
//! previous one.

use crate::config::Config;
use crate::engine::RunSummary;
use crate::error::Result;
use serde_json::json;
use std::path::Path;

/// Writes `run_dir/manifest.json` (through a temp file and a rename) for `summary`'s steps.
pub fn write_manifest(run_dir: &Path, config: &Config, summary: &RunSummary) -> Result<()> {
    let steps: Vec<_> = summary
        .records
        .iter()
        .map(|r| json!({"id": r.id, "kind": r.kind, "state": r.state, "input_hash": r.input_hash, "output_sha256": r.output_hash, "wall_s": r.wall_s, "code_version": r.code_version}))
        .collect();
    let manifest = json!({
        "config": config,
        "config_hash": config.hash(),
        // The workspace shares one version: this crate's is the binary's.
        "finefail_version": env!("CARGO_PKG_VERSION"),
        "git_commit": git_commit(),
        "seeds": config.sweep.seeds,
        "steps": steps,
        "kept_stale": summary.kept.iter().map(|k| json!({"id": k.id, "recorded_code_version": k.recorded, "current_code_version": k.current})).collect::<Vec<_>>(),
    });
    let text = serde_json::to_string_pretty(&manifest).unwrap_or_default();
    Ok(finefail_core::atomic::write_file(
        &finefail_core::RunLayout::new(run_dir).manifest(),
        text.as_bytes(),
    )?)
}

/// `git rev-parse HEAD` in the working directory, when it is a git checkout.
fn git_commit() -> Option<String> {
    std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
}
