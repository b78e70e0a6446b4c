//! `compare`: every fine-tuned arm against its base arm, from the score steps it depends on
//! (`comparison.json`).

use crate::config::Config;
use crate::error::Result;
use crate::plan::Step;
use finefail_score::{compare_run, read_scores, write_comparison, ComparisonFile, StatsConfig};
use std::path::Path;

/// Reads the scores of `step`'s dependencies and writes `scratch/comparison.json`.
pub fn run(
    config: &Config,
    config_hash: &str,
    step: &Step,
    run_dir: &Path,
    scratch: &Path,
) -> Result<()> {
    let mut rows = Vec::new();
    for dep in &step.deps {
        let arm = dep.trim_start_matches("score/");
        rows.extend(read_scores(
            &run_dir.join("scores").join(arm).join("scores.parquet"),
        )?);
    }
    let s = &config.stats;
    let primary = if s.primary.is_empty() {
        None
    } else {
        Some(s.primary.iter().filter_map(|m| m.parse().ok()).collect())
    };
    let cfg = StatsConfig {
        bootstrap: s.bootstrap,
        alpha: s.alpha,
        seed: s.seed,
        primary,
    };
    let file = ComparisonFile {
        config_hash: config_hash.to_string(),
        alpha: cfg.alpha,
        comparisons: compare_run(&rows, &cfg)?,
    };
    write_comparison(&scratch.join("comparison.json"), &file)?;
    Ok(())
}
