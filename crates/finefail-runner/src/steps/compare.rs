//! `compare`: every fine-tuned arm against its base arm, from the score steps it depends on
//! (`comparison.json`).

use crate::arm::step_arm;
use crate::config::Config;
use crate::error::Result;
use crate::plan::Step;
use finefail_core::{files, RunLayout};
use finefail_score::{
    analyse_run, read_scores, write_comparison, ComparisonFile, PrimarySource, StatsConfig,
};
use std::path::Path;

/// Reads the scores of `step`'s dependencies and writes `scratch/comparison.json`.
pub fn run(
    config: &Config,
    config_hash: &str,
    step: &Step,
    run_dir: &Path,
    scratch: &Path,
) -> Result<()> {
    let run = RunLayout::new(run_dir);
    let mut rows = Vec::new();
    for dep in &step.deps {
        let arm = step_arm(dep.trim_start_matches("score/"), run_dir)?;
        rows.extend(read_scores(&run.scores(&arm).join(files::SCORES))?);
    }
    let s = &config.stats;
    let primary = if s.primary.is_empty() {
        None
    } else {
        Some(s.primary.clone())
    };
    let cfg = StatsConfig {
        bootstrap: s.bootstrap,
        alpha: s.alpha,
        seed: s.seed,
        primary,
        family: s.family,
    };
    let (comparisons, trends) = analyse_run(&rows, &cfg)?;
    let file = ComparisonFile {
        config_hash: config_hash.to_string(),
        alpha: cfg.alpha,
        primary_source: PrimarySource::of(&cfg.primary),
        comparisons,
        trends,
    };
    write_comparison(&scratch.join(files::COMPARISON), &file)?;
    Ok(())
}
