//! `finefail score`: deterministic metrics (always), the LLM judge (when configured), paired
//! statistics of every arm against its base arm → OUT/scores.parquet + OUT/comparison.json.

use crate::exit::BadInput;
use anyhow::Context;
use clap::Args;
use finefail_score::{
    check_question_ids, compare_run, judge_answers, read_answers, read_questions,
    retrieved_contexts, score_answers, write_comparison, write_scores, AnswerRow, ComparisonFile,
    HttpJudge, JudgeCache, JudgeConfig, JudgeRequest, Question, ScoreRow, StatsConfig,
};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

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
    /// Bootstrap resamples.
    #[arg(long, default_value_t = 10_000)]
    bootstrap: usize,
    /// Seed of the bootstrap.
    #[arg(long, default_value_t = 0)]
    stats_seed: u64,
}

/// Runs `finefail score`.
pub fn run(a: ScoreArgs) -> anyhow::Result<()> {
    let questions = read_questions(&a.data)?;
    let contexts = match &a.retrieval {
        Some(dir) => retrieved_contexts(dir, &a.data)?,
        None => HashMap::new(),
    };
    let mut all_answers: Vec<AnswerRow> = Vec::new();
    let mut hasher = Sha256::new();
    for path in &a.answers {
        let answers = read_answers(path)?;
        check_question_ids(&answers, &questions, path)?;
        hasher.update(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?);
        all_answers.extend(answers);
    }
    let mut rows = score_rows(&questions, &all_answers, &contexts)?;

    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let judge_failure = match &a.judge_url {
        None => None,
        Some(url) => {
            let model = a
                .judge_model
                .clone()
                .ok_or_else(|| BadInput("--judge-url needs --judge-model".into()))?;
            let mut cfg = JudgeConfig::new(url.clone(), model);
            cfg.key_env = a.judge_key_env.clone();
            cfg.repeats = a.judge_repeats;
            cfg.concurrency = a.judge_concurrency;
            cfg.timeout = Duration::from_secs(60);
            match judge(&cfg, &questions, &all_answers) {
                Ok(judge_rows) => {
                    rows.extend(judge_rows);
                    None
                }
                Err(e) => Some(e),
            }
        }
    };
    // Deterministic scores are written whatever the judge did.
    write_scores(&a.out.join("scores.parquet"), &rows)?;
    if let Some(e) = judge_failure {
        return Err(
            anyhow::Error::new(e).context("judge failed; deterministic scores were written")
        );
    }
    let stats = StatsConfig {
        bootstrap: a.bootstrap,
        seed: a.stats_seed,
        ..StatsConfig::default()
    };
    let comparisons = compare_run(&rows, &stats)?;
    let file = ComparisonFile {
        config_hash: hex::encode(hasher.finalize()),
        alpha: stats.alpha,
        comparisons,
    };
    write_comparison(&a.out.join("comparison.json"), &file)?;
    let errors = rows.iter().filter(|r| r.error.is_some()).count();
    eprintln!(
        "scored {} answers ({} score rows, {} judge errors), {} comparisons → {}",
        all_answers.len(),
        rows.len(),
        errors,
        file.comparisons.len(),
        a.out.display()
    );
    Ok(())
}

/// Deterministic metrics; faithfulness is measured against what the answer was given (the
/// retrieved chunks), so answers made without them get none.
pub fn score_rows(
    questions: &HashMap<String, Question>,
    answers: &[AnswerRow],
    contexts: &HashMap<String, String>,
) -> Result<Vec<ScoreRow>, finefail_score::ScoreError> {
    let (retrieved, other): (Vec<&AnswerRow>, Vec<&AnswerRow>) =
        answers.iter().partition(|a| a.context == "retrieved");
    let plain = |v: Vec<&AnswerRow>| v.into_iter().map(|a| a.answer.clone()).collect::<Vec<_>>();
    let mut rows = score_answers(questions, &plain(retrieved), contexts)?;
    rows.extend(score_answers(questions, &plain(other), &HashMap::new())?);
    Ok(rows)
}

/// Preflight, then every answer judged (`repeats` times), cached on disk.
fn judge(
    cfg: &JudgeConfig,
    questions: &HashMap<String, Question>,
    answers: &[AnswerRow],
) -> Result<Vec<ScoreRow>, finefail_score::ScoreError> {
    use finefail_score::Judge;
    let requests: Vec<JudgeRequest> = answers
        .iter()
        .map(|a| {
            let q = &questions[&a.answer.question_id];
            JudgeRequest {
                arm: a.answer.arm.clone(),
                question_id: a.answer.question_id.clone(),
                question: q.question.clone(),
                references: q.answers.clone(),
                answer: a.answer.answer.clone(),
            }
        })
        .collect();
    let judge = HttpJudge::new(cfg)?;
    judge.preflight()?;
    let cache = JudgeCache::open(JudgeCache::default_dir())?;
    let bar = crate::progress::bar(requests.len() as u64 * cfg.repeats as u64, "judging");
    let result = judge_answers(
        &judge,
        &requests,
        cfg.repeats,
        cfg.concurrency,
        Some(&cache),
        &|done, _| bar.set_position(done as u64),
    );
    bar.finish_and_clear();
    result
}
