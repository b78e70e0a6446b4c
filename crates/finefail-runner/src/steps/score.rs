//! `score/{arm}`: one arm's `scores.parquet` (`scores/{arm}/`), through the score crate's
//! [`finefail_score::score_arms`], as `finefail score` does.

use crate::arm::step_arm;
use crate::config::{Config, Judge};
use crate::error::Result;
use crate::progress::{ProgressSink, StepProgress};
use finefail_core::{files, RunLayout};
use finefail_score::{score_arms, ArmsToScore, JudgeConfig};
use std::path::Path;

/// Scores the arm's answers into `scratch`; with a judge configured, a judge failure fails the
/// step after the deterministic scores were written.
pub fn run(
    config: &Config,
    arm: &str,
    run_dir: &Path,
    scratch: &Path,
    progress: ProgressSink,
) -> Result<()> {
    let parts = step_arm(arm, run_dir)?;
    let run = RunLayout::new(run_dir);
    let data = run.data(&parts.dataset);
    let retrieval = run.retrieval(&parts.dataset);
    let answers = [run.answers(&parts).join(files::ANSWERS)];
    let judge = config.judge.as_ref().map(judge_config);
    let what = ArmsToScore {
        data_dir: &data,
        retrieval_dir: Some(retrieval.as_path()).filter(|r| r.join(files::RETRIEVAL).is_file()),
        answer_files: &answers,
        judge: judge.as_ref(),
    };
    progress(StepProgress::stage("scoring"));
    let scored = score_arms(&what, &scratch.join(files::SCORES), &|done, total| {
        progress(StepProgress::count("judge calls", done, total))
    })?;
    match scored.judge_error {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

/// The score crate's judge settings from the config's `[judge]`.
fn judge_config(j: &Judge) -> JudgeConfig {
    let mut cfg = JudgeConfig::new(j.url.clone(), j.model.clone());
    cfg.api.key_env = Some(j.key_env.clone());
    cfg.api.timeout = std::time::Duration::from_secs(j.timeout_s);
    cfg.api.max_retries = u32::try_from(j.max_retries).unwrap_or(u32::MAX);
    cfg.api.reasoning = j.reasoning;
    cfg.api.reasoning_tokens = j.reasoning_tokens;
    cfg.repeats = j.repeats as u32;
    cfg.concurrency = j.concurrency;
    cfg
}
