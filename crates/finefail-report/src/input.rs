//! What a report is made of, as plain data ([`ReportInput`]), and the loaders of the two JSON files
//! only the report reads (`retrieval_metrics.json`, `contamination.json`); the canonical tables
//! are read with `finefail_data::tables`. The runner calls the loaders; tests build the structs
//! directly.

use std::collections::HashMap;
use std::path::Path;

use finefail_data::contamination::ContaminationReport;
use finefail_data::{AnswerRecord, QaRecord};
use finefail_score::{ComparisonFile, ScoreRow};
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
    pub answers: Vec<AnswerRecord>,
    /// One entry per dataset of the run.
    pub datasets: Vec<DatasetInput>,
    /// How much each fine-tune trained (its `train_summary.json`), for the barely-trained flag;
    /// empty when the run folder has none.
    pub fine_tunes: Vec<FineTuneSummary>,
    /// The steps `finefail run --keep-stale` reused although another code version made them
    /// (listed under the config hash); empty otherwise, and when the report is made outside a run.
    pub kept_stale: Vec<KeptStaleStep>,
}

/// A step of the run reused by `finefail run --keep-stale` although another code version made
/// it: the report names it so that its numbers are not read as this code's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptStaleStep {
    /// The step's id (`answer/pubmedqa/smollm2-135m/n50/s0`).
    pub id: String,
    /// The code version its record carries.
    pub recorded: String,
    /// The code version the run's binary has for its kind.
    pub current: String,
}

/// What a fine-tune's `train_summary.json` says about how much it trained: the report flags
/// adapters that took too few optimizer steps, or barely lowered their validation loss, to be a
/// fair test of fine-tuning at N.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FineTuneSummary {
    /// `{dataset}/{model}/n{N}/s{seed}`, set by the loader.
    #[serde(skip)]
    pub name: String,
    /// Optimizer steps taken.
    pub steps: u64,
    /// Training examples.
    pub examples: u64,
    /// The last logged training loss.
    pub final_loss: Option<f64>,
    /// The last validation loss, if validation ran.
    pub final_val_loss: Option<f64>,
    /// The validation loss before the first optimizer step, if validation ran (absent in
    /// summaries written before the trainer recorded it): with `final_val_loss` it says whether
    /// training moved the model at all.
    #[serde(default)]
    pub initial_val_loss: Option<f64>,
}

/// Reads one fine-tune's `train_summary.json`, naming it `name`.
pub fn read_fine_tune_summary(path: &Path, name: &str) -> Result<FineTuneSummary, ReportError> {
    let text = std::fs::read_to_string(path).map_err(|e| ReportError::io(path, e))?;
    let mut summary: FineTuneSummary = serde_json::from_str(&text)
        .map_err(|e| ReportError::BadInput(format!("{}: {e}", path.display())))?;
    summary.name = name.to_owned();
    Ok(summary)
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
