//! The report of a finefail run: `report/report.md`, a self-contained `report/report.html`, plots
//! (SVG and PNG) and the per-question tables `per_question.{parquet,csv}`.
//!
//! The crate takes plain data ([`ReportInput`]: the run's `comparison.json`, score and answer rows,
//! and per-dataset questions, retrieval and data checks) and writes files; it never prints or
//! exits. The runner fills the input from a run folder with [`ReportInput::load`] (or piece by
//! piece: [`DatasetInput::load`], `finefail_data::tables::read_answers` / `read_retrieval`,
//! [`read_retrieval_metrics`], [`read_contamination`], `finefail_score::read_comparison` /
//! `read_scores`) and calls [`write_report`].

mod analysis;
mod document;
mod error;
pub mod format;
mod input;
mod load;
pub mod per_question;
mod plots;
mod sections;
pub mod sides;
mod write;

pub use error::ReportError;
pub use input::{
    read_contamination, read_fine_tune_summary, read_retrieval_metrics, DatasetInput,
    FineTuneSummary, KeptStaleStep, ReportInput, RetrievalSummary,
};
pub use write::{write_report, ReportSummary};
