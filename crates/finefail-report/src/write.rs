//! [`write_report`]: the one call the runner makes. Builds the content, draws the plots, and writes
//! `report/` as a whole (a temporary sibling directory renamed into place) plus the per-question
//! tables beside it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use finefail_core::atomic::{remove_stale_temporaries, StagedDir};
use finefail_core::{files, RunLayout};
use finefail_score::Verdict;

use crate::analysis::Analysis;
use crate::document::{to_html, to_markdown};
use crate::plots;
use crate::sections::{build, PlotSpec};
use crate::{ReportError, ReportInput};

/// What [`write_report`] wrote, so the runner can record artefacts and print where the report is.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportSummary {
    /// `RUN_DIR/report/`.
    pub report_dir: PathBuf,
    /// `RUN_DIR/report/report.md`.
    pub markdown: PathBuf,
    /// `RUN_DIR/report/report.html`.
    pub html: PathBuf,
    /// `RUN_DIR/per_question.parquet`.
    pub per_question_parquet: PathBuf,
    /// `RUN_DIR/per_question.csv`.
    pub per_question_csv: PathBuf,
    /// Rows of the per-question tables (answered questions × arms).
    pub per_question_rows: usize,
    /// Plots drawn (each as `.svg` and `.png` under `report/plots/`).
    pub plots: usize,
    /// Primary comparisons per verdict: helps, hurts, inconclusive (one-seed `helps (one adapter)`
    /// / `hurts (one adapter)` verdicts are in none of the three).
    pub verdicts: (usize, usize, usize),
}

/// Writes a file of the staged `report/` directory (made durable when the directory is committed).
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    std::fs::write(path, bytes).map_err(|e| ReportError::io(path, e))
}

/// Writes the report of a run into `run_dir`: `report/` (report.md, report.html, plots/*.svg and
/// *.png) and `per_question.parquet` / `per_question.csv`.
///
/// Nothing is half-written: the per-question tables go through temporary files, `report/` is built
/// in a temporary sibling directory and renamed over the old one. Inputs that do not fit together
/// (an arm of an unknown dataset, an answer to an unknown question) are bad input.
pub fn write_report(input: &ReportInput, run_dir: &Path) -> Result<ReportSummary, ReportError> {
    let analysis = Analysis::new(input)?;
    let content = build(&analysis)?;
    std::fs::create_dir_all(run_dir).map_err(|e| ReportError::io(run_dir, e))?;
    // What a killed earlier report step left behind.
    remove_stale_temporaries(
        run_dir,
        &[
            files::REPORT_DIR,
            files::PER_QUESTION_PARQUET,
            files::PER_QUESTION_CSV,
        ],
    );

    let run = RunLayout::new(run_dir);
    let report_dir = run.report();
    let staged = StagedDir::new(&report_dir)?;
    let plot_dir = staged.path().join("plots");
    std::fs::create_dir_all(&plot_dir).map_err(|e| ReportError::io(&plot_dir, e))?;
    let mut svgs = HashMap::new();
    for (stem, spec) in &content.plots {
        let rendered = match spec {
            PlotSpec::Curve(p) => plots::curve(stem, p)?,
            PlotSpec::Scatter(p) => plots::scatter(stem, p)?,
            PlotSpec::Forest(p) => plots::forest(stem, p)?,
        };
        write_file(
            &plot_dir.join(format!("{stem}.svg")),
            rendered.svg.as_bytes(),
        )?;
        write_file(&plot_dir.join(format!("{stem}.png")), &rendered.png)?;
        svgs.insert(stem.clone(), rendered.svg);
    }
    let md = to_markdown(&content.blocks);
    write_file(&staged.path().join("report.md"), md.as_bytes())?;
    let html = to_html(&content.title, &content.blocks, &svgs);
    write_file(&staged.path().join(files::REPORT_HTML), html.as_bytes())?;

    let parquet = run.per_question_parquet();
    let csv = run.per_question_csv();
    let rows = crate::per_question::write(&analysis, &parquet, &csv)?;
    staged.commit()?;

    let primary = input.comparison.comparisons.iter().filter(|c| c.primary);
    let count = |v: Verdict| primary.clone().filter(|c| c.verdict == Some(v)).count();
    Ok(ReportSummary {
        markdown: report_dir.join("report.md"),
        html: report_dir.join(files::REPORT_HTML),
        report_dir,
        per_question_parquet: parquet,
        per_question_csv: csv,
        per_question_rows: rows,
        plots: content.plots.len(),
        verdicts: (
            count(Verdict::Helps),
            count(Verdict::Hurts),
            count(Verdict::Inconclusive),
        ),
    })
}
