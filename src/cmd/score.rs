//! `finefail score`: deterministic metrics (always), the LLM judge (when configured), paired
//! statistics of every arm against its base arm → OUT/scores.parquet + OUT/comparison.json.

use crate::exit::BadInput;
use anyhow::Context;
use clap::Args;
use finefail_core::files;
use finefail_score::{
    analyse_run, score_arms, write_comparison, ArmsToScore, ComparisonFile, JudgeConfig,
    PrimarySource, StatsConfig,
};
use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// Arguments of `finefail score`.
#[derive(Args)]
pub struct ScoreArgs {
    /// answers.parquet files, one per arm (the base arm among them).
    #[arg(long, num_args = 1.., required = true)]
    answers: Vec<PathBuf>,
    /// The prepared dataset directory the answers are for.
    #[arg(long)]
    data: PathBuf,
    /// The retrieval directory (faithfulness and failure attribution need the retrieved chunks).
    #[arg(long)]
    retrieval: Option<PathBuf>,
    /// Output directory: scores.parquet, comparison.json.
    #[arg(long)]
    out: PathBuf,
    /// OpenAI-compatible endpoint of the judge (enables accuracy and completeness).
    #[arg(long)]
    judge_url: Option<String>,
    #[arg(long)]
    judge_model: Option<String>,
    /// Name of the environment variable holding the judge's API key.
    #[arg(long)]
    judge_key_env: Option<String>,
    #[arg(long, default_value_t = 1)]
    judge_repeats: u32,
    #[arg(long, default_value_t = 4)]
    judge_concurrency: usize,
    /// The judge is a reasoning-model endpoint: send max_completion_tokens, no temperature.
    #[arg(long)]
    judge_reasoning: bool,
    /// Bootstrap resamples.
    #[arg(long, default_value_t = 10_000)]
    bootstrap: usize,
    /// Seed of the bootstrap.
    #[arg(long, default_value_t = 0)]
    stats_seed: u64,
}

/// Runs `finefail score`: every arm scored by [`score_arms`] (which decides an answer's context by
/// its arm's name, as the runner's score step does), then every arm compared with its base arm.
pub fn run(a: ScoreArgs) -> anyhow::Result<()> {
    let judge = match &a.judge_url {
        None => None,
        Some(url) => Some(judge_config(&a, url)?),
    };
    let what = ArmsToScore {
        data_dir: &a.data,
        retrieval_dir: a.retrieval.as_deref(),
        answer_files: &a.answers,
        judge: judge.as_ref(),
    };
    let display = crate::progress::Display::new();
    let task = display.task("score");
    task.stage("scoring");
    let scored = score_arms(&what, &a.out.join(files::SCORES), &|done, total| {
        task.update(done as u64, Some(total as u64), "judge calls", "")
    });
    task.finish();
    drop(display);
    let scored = scored?;
    if let Some(e) = scored.judge_error {
        return Err(
            anyhow::Error::new(e).context("judge failed; deterministic scores were written")
        );
    }
    let mut hasher = Sha256::new();
    for path in &a.answers {
        hasher.update(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?);
    }
    let stats = StatsConfig {
        bootstrap: a.bootstrap,
        seed: a.stats_seed,
        ..StatsConfig::default()
    };
    let (comparisons, trends) = analyse_run(&scored.rows, &stats)?;
    let file = ComparisonFile {
        config_hash: hex::encode(hasher.finalize()),
        alpha: stats.alpha,
        primary_source: PrimarySource::of(&stats.primary),
        comparisons,
        trends,
    };
    write_comparison(&a.out.join(files::COMPARISON), &file)?;
    let errors = scored.rows.iter().filter(|r| r.error.is_some()).count();
    eprintln!(
        "scored {} answers ({} score rows, {} judge errors), {} comparisons → {}",
        scored.answers.len(),
        scored.rows.len(),
        errors,
        file.comparisons.len(),
        a.out.display()
    );
    Ok(())
}

/// The judge's settings from the `--judge-*` flags.
fn judge_config(a: &ScoreArgs, url: &str) -> anyhow::Result<JudgeConfig> {
    let model = a
        .judge_model
        .clone()
        .ok_or_else(|| BadInput("--judge-url needs --judge-model".into()))?;
    let mut cfg = JudgeConfig::new(url.to_string(), model);
    cfg.api.key_env = a.judge_key_env.clone();
    cfg.repeats = a.judge_repeats;
    cfg.concurrency = a.judge_concurrency;
    cfg.api.reasoning = a.judge_reasoning;
    Ok(cfg)
}
