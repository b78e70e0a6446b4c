//! What a report is made of, as plain data ([`ReportInput`]), and loaders that fill it from a run
//! folder's files (`answers.parquet`, `retrieval.parquet`, `retrieval_metrics.json`,
//! `contamination.json`). The runner calls the loaders; tests build the structs directly.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

use finefail_data::contamination::ContaminationReport;
use finefail_data::QaRecord;
use finefail_score::{ComparisonFile, ScoreRow};
use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::ReportError;

/// Everything one report shows. Plain data, so the runner passes what it has read and tests pass
/// synthetic values.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportInput {
    /// The run's name (the config's `name`), shown in the title.
    pub run_name: String,
    /// Hash of the config that produced the run (shown so a report can be traced to its config).
    pub config_hash: String,
    /// The run's `comparison.json`.
    pub comparison: ComparisonFile,
    /// Every arm's `scores.parquet` rows, concatenated (each row names its arm).
    pub scores: Vec<ScoreRow>,
    /// Every arm's `answers.parquet` rows, concatenated.
    pub answers: Vec<AnswerRow>,
    /// One entry per dataset of the run.
    pub datasets: Vec<DatasetInput>,
}

/// The per-dataset inputs: questions, retrieval, and the data checks.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetInput {
    /// Dataset name, as in arm names.
    pub name: String,
    /// The dataset's `qa.parquet` (at least every question an arm answered).
    pub questions: Vec<QaRecord>,
    /// `retrieval.parquet` as question id → chunk ids in rank order (empty when not retrieved).
    pub retrieval: HashMap<String, Vec<String>>,
    /// `retrieval_metrics.json`, when written.
    pub retrieval_metrics: Option<RetrievalSummary>,
    /// `contamination.json`, when written.
    pub contamination: Option<ContaminationReport>,
}

/// One row of `answers.parquet`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnswerRow {
    /// Arm name, `{dataset}/{model}/n{N}[/s{seed}][@context]`.
    pub arm: String,
    /// The question answered.
    pub question_id: String,
    /// `retrieved`, `none` or `gold`.
    pub context: String,
    /// The generated text.
    pub answer: String,
    /// Prompt length in tokens.
    pub prompt_tokens: u64,
    /// Generated tokens.
    pub answer_tokens: u64,
    /// Generation time of the answer in milliseconds.
    pub ms: f64,
}

/// The keys of `retrieval_metrics.json` the report shows (written by the rag crate; read here by
/// name so the report does not depend on the retrieval code).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrievalSummary {
    /// `bm25`, `dense` or `hybrid`.
    pub retriever: String,
    /// Chunks retrieved per question.
    pub top_k: usize,
    /// Questions retrieved for.
    pub questions: usize,
    /// Questions with gold documents (recall and MRR are computed on these).
    pub questions_with_gold: usize,
    /// Share of counted questions with a gold document in the top k; null without gold.
    pub recall_at_k: Option<f64>,
    /// Mean reciprocal rank of the first gold chunk; null without gold.
    pub mrr: Option<f64>,
    /// Questions that got fewer than `top_k` chunks.
    #[serde(default)]
    pub questions_short: usize,
}

fn read_parquet(path: &Path) -> Result<DataFrame, ReportError> {
    let file = File::open(path).map_err(|e| ReportError::io(path, e))?;
    ParquetReader::new(file)
        .finish()
        .map_err(|e| ReportError::table(path, format!("not a readable parquet file: {e}")))
}

/// Column access that names the table and the column in its errors.
struct Columns<'a> {
    df: &'a DataFrame,
    path: &'a Path,
}

impl Columns<'_> {
    fn cast(&self, name: &str, dtype: &DataType) -> Result<Series, ReportError> {
        let col = self
            .df
            .column(name)
            .map_err(|_| ReportError::table(self.path, format!("missing column `{name}`")))?;
        col.cast(dtype)
            .map(|c| c.as_materialized_series().clone())
            .map_err(|e| ReportError::table(self.path, format!("column `{name}`: {e}")))
    }

    fn strs(&self, name: &str) -> Result<Vec<String>, ReportError> {
        let s = self.cast(name, &DataType::String)?;
        let ca = s
            .str()
            .map_err(|e| ReportError::table(self.path, format!("column `{name}`: {e}")))?;
        ca.iter()
            .enumerate()
            .map(|(i, v)| {
                v.map(str::to_owned).ok_or_else(|| {
                    ReportError::table(self.path, format!("row {}: null `{name}`", i + 1))
                })
            })
            .collect()
    }

    fn u64s(&self, name: &str) -> Result<Vec<u64>, ReportError> {
        let s = self.cast(name, &DataType::Int64)?;
        let ca = s
            .i64()
            .map_err(|e| ReportError::table(self.path, format!("column `{name}`: {e}")))?;
        ca.iter()
            .enumerate()
            .map(|(i, v)| {
                v.and_then(|v| u64::try_from(v).ok()).ok_or_else(|| {
                    ReportError::table(self.path, format!("row {}: bad `{name}`", i + 1))
                })
            })
            .collect()
    }

    fn f64s(&self, name: &str) -> Result<Vec<f64>, ReportError> {
        let s = self.cast(name, &DataType::Float64)?;
        let ca = s
            .f64()
            .map_err(|e| ReportError::table(self.path, format!("column `{name}`: {e}")))?;
        Ok(ca.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
    }
}

/// Reads one arm's `answers.parquet` (columns of DESIGN.md "Canonical tables").
pub fn read_answers(path: &Path) -> Result<Vec<AnswerRow>, ReportError> {
    let df = read_parquet(path)?;
    let c = Columns { df: &df, path };
    let (arm, qid, context, answer) = (
        c.strs("arm")?,
        c.strs("question_id")?,
        c.strs("context")?,
        c.strs("answer")?,
    );
    let (prompt, tokens, ms) = (
        c.u64s("prompt_tokens")?,
        c.u64s("answer_tokens")?,
        c.f64s("ms")?,
    );
    Ok((0..df.height())
        .map(|i| AnswerRow {
            arm: arm[i].clone(),
            question_id: qid[i].clone(),
            context: context[i].clone(),
            answer: answer[i].clone(),
            prompt_tokens: prompt[i],
            answer_tokens: tokens[i],
            ms: ms[i],
        })
        .collect())
}

/// Reads `retrieval.parquet` into question id → chunk ids ordered by rank.
pub fn read_retrieval(path: &Path) -> Result<HashMap<String, Vec<String>>, ReportError> {
    let df = read_parquet(path)?;
    let c = Columns { df: &df, path };
    let (qid, rank, chunk) = (c.strs("question_id")?, c.u64s("rank")?, c.strs("chunk_id")?);
    let mut ranked: HashMap<String, Vec<(u64, String)>> = HashMap::new();
    for i in 0..df.height() {
        ranked
            .entry(qid[i].clone())
            .or_default()
            .push((rank[i], chunk[i].clone()));
    }
    Ok(ranked
        .into_iter()
        .map(|(q, mut v)| {
            v.sort();
            (q, v.into_iter().map(|(_, c)| c).collect())
        })
        .collect())
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> Result<T, ReportError> {
    let text = std::fs::read_to_string(path).map_err(|e| ReportError::io(path, e))?;
    serde_json::from_str(&text)
        .map_err(|e| ReportError::BadInput(format!("{}: not a {what} file: {e}", path.display())))
}

/// Reads `retrieval_metrics.json`.
pub fn read_retrieval_metrics(path: &Path) -> Result<RetrievalSummary, ReportError> {
    read_json(path, "retrieval metrics")
}

/// Reads `contamination.json`.
pub fn read_contamination(path: &Path) -> Result<ContaminationReport, ReportError> {
    read_json(path, "contamination")
}
