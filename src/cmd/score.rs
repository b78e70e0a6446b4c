//! `finefail score`: deterministic metrics (always), the LLM judge (when configured), paired
//! statistics of every arm against its base arm → OUT/scores.parquet + OUT/comparison.json.

use crate::exit::BadInput;
use anyhow::Context;
use clap::Args;
use finefail_score::{
    compare_run, judge_answers, score_answers, write_comparison, write_scores, Answer, ComparisonFile, HttpJudge,
    JudgeCache, JudgeConfig, JudgeRequest, Question, ScoreRow, StatsConfig,
};
use polars::prelude::*;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
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
    let qa_path = a.data.join(finefail_data::prepare::files::QA);
    let questions: HashMap<String, Question> = finefail_data::tables::read_qa(&qa_path)?
        .into_iter()
        .map(|q| {
            let question = Question {
                id: q.id.clone(),
                question: q.question,
                answers: q.answers,
                answer_type: q.answer_type.as_str().to_string(),
                label: q.label.map(|l| l.as_str().to_string()),
                answerable: q.answerable,
                gold_doc_ids: q.gold_doc_ids,
            };
            (q.id, question)
        })
        .collect();
    let contexts = match &a.retrieval {
        Some(dir) => retrieved_contexts(dir, &a.data)?,
        None => HashMap::new(),
    };
    let mut rows: Vec<ScoreRow> = Vec::new();
    let mut all_answers: Vec<(Answer, String)> = Vec::new();
    let mut hasher = Sha256::new();
    for path in &a.answers {
        let answers = read_answers(path)?;
        for (ans, _) in &answers {
            if !questions.contains_key(&ans.question_id) {
                return Err(BadInput(format!(
                    "{}: answer for question `{}` which is not in {}; were these answers made from another dataset?",
                    path.display(),
                    ans.question_id,
                    qa_path.display()
                ))
                .into());
            }
        }
        hasher.update(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?);
        all_answers.extend(answers);
    }
    // Faithfulness is measured against what the answer was given: the retrieved chunks.
    let empty = HashMap::new();
    let (retrieved, other): (Vec<_>, Vec<_>) = all_answers.iter().partition(|(_, ctx)| ctx == "retrieved");
    let plain = |v: Vec<&(Answer, String)>| v.into_iter().map(|(a, _)| a.clone()).collect::<Vec<_>>();
    rows.extend(score_answers(&questions, &plain(retrieved), &contexts)?);
    rows.extend(score_answers(&questions, &plain(other), &empty)?);

    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let judge_failure = match &a.judge_url {
        None => None,
        Some(url) => {
            let model = a.judge_model.clone().ok_or_else(|| BadInput("--judge-url needs --judge-model".into()))?;
            let mut cfg = JudgeConfig::new(url.clone(), model);
            cfg.key_env = a.judge_key_env.clone();
            cfg.repeats = a.judge_repeats;
            cfg.concurrency = a.judge_concurrency;
            cfg.timeout = Duration::from_secs(60);
            let requests: Vec<JudgeRequest> = all_answers
                .iter()
                .map(|(ans, _)| {
                    let q = &questions[&ans.question_id];
                    JudgeRequest {
                        arm: ans.arm.clone(),
                        question_id: ans.question_id.clone(),
                        question: q.question.clone(),
                        references: q.answers.clone(),
                        answer: ans.answer.clone(),
                    }
                })
                .collect();
            let cache_dir = cache_root().join("judgments");
            let judged = HttpJudge::new(&cfg).and_then(|judge| {
                use finefail_score::Judge;
                judge.preflight()?;
                let cache = JudgeCache::open(&cache_dir)?;
                let bar = crate::progress::bar(requests.len() as u64 * cfg.repeats as u64, "judging");
                let result = judge_answers(&judge, &requests, cfg.repeats, cfg.concurrency, Some(&cache), &|done, _| bar.set_position(done as u64));
                bar.finish_and_clear();
                result
            });
            match judged {
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
        return Err(anyhow::Error::new(e).context("judge failed; deterministic scores were written"));
    }
    let comparisons = compare_run(&rows, &StatsConfig { bootstrap: a.bootstrap, seed: a.stats_seed, ..StatsConfig::default() })?;
    let file = ComparisonFile { config_hash: hex::encode(hasher.finalize()), comparisons };
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

/// finefail's cache root (`$FINEFAIL_CACHE`, else `~/.cache/finefail`).
fn cache_root() -> PathBuf {
    std::env::var_os("FINEFAIL_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/finefail")))
        .unwrap_or_else(|| PathBuf::from(".finefail-cache"))
}

/// Reads `answers.parquet`: (answer, context) pairs.
pub fn read_answers(path: &Path) -> anyhow::Result<Vec<(Answer, String)>> {
    let file = std::fs::File::open(path).map_err(|e| BadInput(format!("{}: {e}", path.display())))?;
    let df = ParquetReader::new(file).finish().map_err(|e| BadInput(format!("{}: not a readable answers table: {e}", path.display())))?;
    let col = |name: &str| -> anyhow::Result<Series> {
        df.column(name)
            .map(|c| c.as_materialized_series().clone())
            .map_err(|_| BadInput(format!("{}: missing column `{name}`", path.display())).into())
    };
    let strs = |name: &str| -> anyhow::Result<Vec<String>> {
        let s = col(name)?;
        let ca = s.str().map_err(|e| BadInput(format!("{}: column `{name}`: {e}", path.display())))?;
        Ok(ca.iter().map(|v| v.unwrap_or_default().to_string()).collect())
    };
    let (arms, qids, texts, ctxs) = (strs("arm")?, strs("question_id")?, strs("answer")?, strs("context")?);
    let tokens = col("answer_tokens")?.cast(&DataType::UInt64)?;
    let tokens: Vec<u64> = tokens.u64()?.iter().map(|v| v.unwrap_or(0)).collect();
    Ok((0..df.height())
        .map(|i| {
            (Answer { arm: arms[i].clone(), question_id: qids[i].clone(), answer: texts[i].clone(), answer_tokens: tokens[i] }, ctxs[i].clone())
        })
        .collect())
}

/// Question id → the text of its retrieved chunks (rank order), for faithfulness.
fn retrieved_contexts(retrieval: &Path, data: &Path) -> anyhow::Result<HashMap<String, String>> {
    let chunks: HashMap<String, String> = finefail_data::tables::read_chunks(&data.join(finefail_data::prepare::files::CHUNKS))?
        .into_iter()
        .map(|c| (c.chunk_id, c.text))
        .collect();
    let path = retrieval.join("retrieval.parquet");
    let file = std::fs::File::open(&path).map_err(|e| BadInput(format!("{}: {e}", path.display())))?;
    let df = ParquetReader::new(file).finish().map_err(|e| BadInput(format!("{}: {e}", path.display())))?;
    let qids = df.column("question_id")?.as_materialized_series().clone();
    let cids = df.column("chunk_id")?.as_materialized_series().clone();
    let ranks = df.column("rank")?.as_materialized_series().cast(&DataType::UInt64)?;
    let mut rows: Vec<(String, u64, String)> = qids
        .str()?
        .iter()
        .zip(ranks.u64()?.iter())
        .zip(cids.str()?.iter())
        .map(|((q, r), c)| (q.unwrap_or_default().to_string(), r.unwrap_or(0), c.unwrap_or_default().to_string()))
        .collect();
    rows.sort();
    let mut out: HashMap<String, String> = HashMap::new();
    for (q, _, c) in rows {
        let text = chunks.get(&c).ok_or_else(|| BadInput(format!("{}: chunk `{c}` is not in {}", path.display(), data.display())))?;
        let entry = out.entry(q).or_default();
        entry.push_str(text);
        entry.push('\n');
    }
    Ok(out)
}
