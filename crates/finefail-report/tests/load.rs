//! `ReportInput::load` reads back a run folder written with the other crates' writers: the loaded
//! input equals the one written.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use finefail_data::tables::{write_answers, write_qa, write_retrieval, RetrievalRow};
use finefail_data::AnswerRecord;
use finefail_report::{write_report, ReportError, ReportInput};
use finefail_score::{write_comparison, write_scores};

fn err(e: impl std::fmt::Display) -> ReportError {
    ReportError::BadInput(e.to_string())
}

/// Writes `input` in the run layout and returns the arm names.
fn write_run(input: &ReportInput, run: &Path) -> Result<Vec<String>, ReportError> {
    write_comparison(&run.join("comparison.json"), &input.comparison)?;
    let arms: BTreeSet<String> = input.answers.iter().map(|a| a.arm.clone()).collect();
    for arm in &arms {
        let rows: Vec<AnswerRecord> = input
            .answers
            .iter()
            .filter(|a| &a.arm == arm)
            .cloned()
            .collect();
        let path = run.join("answers").join(arm).join("answers.parquet");
        std::fs::create_dir_all(path.parent().ok_or_else(|| err("no parent"))?).map_err(err)?;
        write_answers(&path, &rows)?;
        let scores: Vec<_> = input
            .scores
            .iter()
            .filter(|r| &r.arm == arm)
            .cloned()
            .collect();
        let path = run.join("scores").join(arm).join("scores.parquet");
        std::fs::create_dir_all(path.parent().ok_or_else(|| err("no parent"))?).map_err(err)?;
        write_scores(&path, &scores)?;
    }
    for d in &input.datasets {
        let data = run.join("data").join(&d.name);
        std::fs::create_dir_all(&data).map_err(err)?;
        write_qa(&data.join("qa.parquet"), &d.questions)?;
        if let Some(c) = &d.contamination {
            let text = serde_json::to_string(c).map_err(err)?;
            std::fs::write(data.join("contamination.json"), text).map_err(err)?;
        }
        let retrieval = run.join("retrieval").join(&d.name);
        std::fs::create_dir_all(&retrieval).map_err(err)?;
        if let Some(m) = &d.retrieval_metrics {
            let text = serde_json::to_string(m).map_err(err)?;
            std::fs::write(retrieval.join("retrieval_metrics.json"), text).map_err(err)?;
        }
        if !d.retrieval.is_empty() {
            let mut rows = Vec::new();
            for (qid, chunks) in &d.retrieval {
                // Written in reverse rank order: the reader must sort by rank.
                for (i, c) in chunks.iter().enumerate().rev() {
                    rows.push(RetrievalRow {
                        question_id: qid.clone(),
                        rank: i as u32 + 1,
                        chunk_id: c.clone(),
                        score: 1.0 / (i as f64 + 1.0),
                    });
                }
            }
            write_retrieval(&retrieval.join("retrieval.parquet"), &rows)?;
        }
    }
    Ok(arms.into_iter().collect())
}

#[test]
fn loads_a_run_folder_back() -> Result<(), ReportError> {
    let dir = tempfile::tempdir().map_err(err)?;
    let mut input = common::input();
    let arms = write_run(&input, dir.path())?;
    let arm_refs: Vec<&str> = arms.iter().map(String::as_str).collect();
    let loaded = ReportInput::load("synthetic", dir.path(), &["nqa", "pqa"], &arm_refs)?;
    // The loader reads arms in the order given; compare as sets of rows.
    let key = |a: &AnswerRecord| (a.arm.clone(), a.question_id.clone());
    input.answers.sort_by_key(key);
    let mut answers = loaded.answers.clone();
    answers.sort_by_key(key);
    assert_eq!(answers, input.answers);
    let skey =
        |r: &finefail_score::ScoreRow| (r.arm.clone(), r.question_id.clone(), r.metric, r.repeat);
    input.scores.sort_by_key(skey);
    let mut scores = loaded.scores.clone();
    scores.sort_by_key(skey);
    assert_eq!(scores, input.scores);
    assert_eq!(loaded.comparison, input.comparison);
    assert_eq!(loaded.config_hash, "abc123");
    assert_eq!(loaded.datasets, input.datasets);
    // And the loaded input makes a report.
    let summary = write_report(&loaded, dir.path())?;
    assert_eq!(summary.per_question_rows, 6 * 9 + 5 * 2);
    Ok(())
}

#[test]
fn missing_answers_file_is_an_error_naming_it() {
    let Ok(dir) = tempfile::tempdir() else {
        panic!("tempdir")
    };
    let input = common::input();
    assert!(write_run(&input, dir.path()).is_ok());
    let err = ReportInput::load("x", dir.path(), &["nqa"], &["nqa/m9/n0"]).err();
    assert!(err.is_some_and(|e| e.to_string().contains("nqa/m9/n0")));
}
