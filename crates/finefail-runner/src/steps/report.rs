//! `report`: `report/` (report.md, report.html, plots) plus `per_question.{parquet,csv}` at the
//! run root.

use crate::config::Config;
use crate::error::{Result, RunnerError};
use crate::kind::StepKind;
use finefail_core::atomic::replace;
use finefail_core::RunLayout;
use std::path::Path;

/// Writes the report of every scored arm into `scratch`, and the per-question tables into
/// `run_dir` (they are the run's, not the report folder's).
pub fn run(config: &Config, run_dir: &Path, scratch: &Path) -> Result<()> {
    let name = config.name.clone().unwrap_or_default();
    let datasets: Vec<&str> = config.datasets.iter().map(|d| d.name.as_str()).collect();
    // The arms are those the compare step read.
    let plan = crate::plan::plan(config, run_dir.parent().unwrap_or(Path::new(".")));
    let arms: Vec<&str> = plan
        .steps
        .iter()
        .filter(|s| s.kind == StepKind::Score)
        .map(|s| s.id.trim_start_matches("score/"))
        .collect();
    let mut input = finefail_report::ReportInput::load(&name, run_dir, &datasets, &arms)?;
    input.kept_stale = kept_stale(&plan, run_dir);
    // The report crate writes `report/` and the tables side by side; they are sorted out below.
    let written = scratch.join(".scratch");
    let _ = std::fs::remove_dir_all(&written);
    finefail_report::write_report(&input, &written)?;
    let staged = RunLayout::new(&written);
    for entry in std::fs::read_dir(staged.report()).map_err(RunnerError::io(&written))? {
        let entry = entry.map_err(RunnerError::io(&written))?;
        replace(&entry.path(), &scratch.join(entry.file_name()))?;
    }
    let run = RunLayout::new(run_dir);
    replace(&staged.per_question_parquet(), &run.per_question_parquet())?;
    replace(&staged.per_question_csv(), &run.per_question_csv())?;
    std::fs::remove_dir_all(&written).map_err(RunnerError::io(&written))
}

/// The steps of `plan` recorded done by another code version than this binary's: the engine let
/// them stand only under `--keep-stale` (otherwise they would have rerun before the report), so
/// these are the kept ones, read from their records.
fn kept_stale(plan: &crate::plan::Plan, run_dir: &Path) -> Vec<finefail_report::KeptStaleStep> {
    use crate::engine::{code_version, read_record, record_path, recorded_code_version};
    plan.steps
        .iter()
        .filter(|s| s.kind != StepKind::Report)
        .filter_map(|s| {
            let rec = read_record(&record_path(run_dir, &s.id))?;
            let recorded = recorded_code_version(s.kind, rec.code_version.as_deref());
            let current = code_version(s.kind);
            (rec.state == crate::engine::StepState::Done && recorded != current).then(|| {
                finefail_report::KeptStaleStep {
                    id: s.id.clone(),
                    recorded: recorded.to_string(),
                    current,
                }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DatasetConfig, ModelEntry};
    use crate::fault::UserFault;

    /// A run folder whose comparison exists but whose answers are missing: the user's to fix
    /// (exit 2), with the missing file named.
    #[test]
    fn a_missing_input_is_the_users_and_named() {
        let tmp = tempfile::tempdir().unwrap();
        let run_dir = tmp.path().join("t");
        let file = finefail_score::ComparisonFile {
            config_hash: String::new(),
            alpha: 0.05,
            primary_source: Default::default(),
            comparisons: vec![],
            trends: vec![],
        };
        finefail_score::write_comparison(&run_dir.join("comparison.json"), &file).unwrap();
        let config = Config {
            name: Some("t".into()),
            datasets: vec![DatasetConfig {
                name: "d".into(),
                ..Default::default()
            }],
            models: vec![ModelEntry::local("m", "")],
            ..Default::default()
        };
        let scratch = tmp.path().join("scratch");
        std::fs::create_dir_all(&scratch).unwrap();
        let err = run(&config, &run_dir, &scratch).unwrap_err();
        assert!(err.is_user_fault(), "{err}");
        assert!(err.to_string().contains("answers.parquet"), "{err}");
    }
}
