//! Filling a [`ReportInput`] from a run folder laid out as docs/config.md ("Run folder") describes:
//! `data/{dataset}/` (qa.parquet, contamination.json), `retrieval/{dataset}/` (retrieval.parquet,
//! retrieval_metrics.json), `answers/{arm}/answers.parquet`, `scores/{arm}/scores.parquet` and
//! `comparison.json`. Optional files (contamination, retrieval) are skipped when absent.

use std::path::Path;

use finefail_core::{files, AnswerContext, ArmId, RunLayout};
use finefail_data::tables::{ranked_chunk_ids, read_answers, read_qa, read_retrieval};
use finefail_score::{read_comparison, read_scores};

use crate::input::{
    read_contamination, read_fine_tune_summary, read_retrieval_metrics, FineTuneSummary,
};
use crate::{DatasetInput, ReportError, ReportInput};

impl DatasetInput {
    /// Reads one dataset: `data_dir/qa.parquet` (required), `data_dir/contamination.json`,
    /// `retrieval_dir/retrieval.parquet` and `retrieval_dir/retrieval_metrics.json` (each optional).
    pub fn load(
        name: &str,
        data_dir: &Path,
        retrieval_dir: Option<&Path>,
    ) -> Result<Self, ReportError> {
        let questions = read_qa(&data_dir.join(files::QA))?;
        let contamination_path = data_dir.join(files::CONTAMINATION);
        let contamination = if contamination_path.is_file() {
            Some(read_contamination(&contamination_path)?)
        } else {
            None
        };
        let (mut retrieval, mut retrieval_metrics) = (Default::default(), None);
        if let Some(dir) = retrieval_dir {
            let table = dir.join(files::RETRIEVAL);
            if table.is_file() {
                retrieval = ranked_chunk_ids(&read_retrieval(&table)?, usize::MAX);
            }
            let metrics = dir.join(files::RETRIEVAL_METRICS);
            if metrics.is_file() {
                retrieval_metrics = Some(read_retrieval_metrics(&metrics)?);
            }
        }
        Ok(DatasetInput {
            name: name.to_owned(),
            questions,
            retrieval,
            retrieval_metrics,
            contamination,
        })
    }
}

impl ReportInput {
    /// Reads a whole run folder: `comparison.json`, each arm's `answers/{arm}/answers.parquet` and
    /// `scores/{arm}/scores.parquet`, and each dataset's `data/{dataset}/` and
    /// `retrieval/{dataset}/`. The config hash is the one `comparison.json` records.
    pub fn load(
        run_name: &str,
        run_dir: &Path,
        datasets: &[&str],
        arms: &[&str],
    ) -> Result<Self, ReportError> {
        let run = RunLayout::new(run_dir);
        let comparison = read_comparison(&run.comparison())?;
        let mut scores = Vec::new();
        let mut answers = Vec::new();
        let mut fine_tunes: Vec<FineTuneSummary> = Vec::new();
        for arm in arms {
            let arm: ArmId = arm.parse()?;
            if let Some(dir) = run.fine_tune_of(&arm) {
                let name = ArmId {
                    context: AnswerContext::Retrieved,
                    ..arm.clone()
                }
                .to_string();
                let path = dir.join(files::TRAIN_SUMMARY);
                if path.is_file() && !fine_tunes.iter().any(|f| f.name == name) {
                    fine_tunes.push(read_fine_tune_summary(&path, &name)?);
                }
            }
            answers.extend(read_answers(&run.answers(&arm).join(files::ANSWERS))?);
            scores.extend(read_scores(&run.scores(&arm).join(files::SCORES))?);
        }
        let datasets = datasets
            .iter()
            .map(|d| DatasetInput::load(d, &run.data(d), Some(&run.retrieval(d))))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ReportInput {
            run_name: run_name.to_owned(),
            config_hash: comparison.config_hash.clone(),
            comparison,
            scores,
            answers,
            datasets,
            fine_tunes,
            kept_stale: Vec::new(),
        })
    }
}
