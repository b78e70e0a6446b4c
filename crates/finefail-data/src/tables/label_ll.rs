//! `label_ll.parquet`: an arm's log-likelihood of each label of each label question, written by
//! answering (finefail-rag's `label_ll_answers`) beside `answers.parquet` and read by scoring
//! (`label_ll_accuracy`, `label_ll_accuracy_norm`, the per-label log-probabilities). Its schema
//! lives here, beside the other canonical tables, so writer and reader cannot disagree.
//!
//! One row per (question, label), labels in the dataset's label-set order (yes, no[, maybe]):
//! `arm, question_id, label, log_prob, norm_log_prob, log_prob_lower, log_prob_capital, ms`.

use super::{str_col, write, Reader};
use crate::error::{DataError, Result};
use crate::schema::Label;
use polars::prelude::*;
use std::path::Path;

/// One label of one question, as the arm's model scored it after the question's RAG prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelLlRecord {
    /// The arm, as in `answers.parquet`.
    pub arm: String,
    /// The label question.
    pub question_id: String,
    /// The label scored.
    pub label: Label,
    /// Natural-log probability of the label as the answer's start: log-sum-exp of its spellings'
    /// (`log_prob_lower`, `log_prob_capital`), what `label_ll_accuracy` compares.
    pub log_prob: f64,
    /// `log_prob` divided by the label word's length in characters (`label_ll_accuracy_norm`).
    pub norm_log_prob: f64,
    /// Summed log-probability of the label's tokens spelled lowercase (`yes`).
    pub log_prob_lower: f64,
    /// Summed log-probability of the label's tokens spelled capitalised (`Yes`).
    pub log_prob_capital: f64,
    /// Wall time of scoring this question's labels (every label of it carries the same value).
    pub ms: u64,
}

/// Writes `label_ll.parquet` (or one of its part files), atomically.
pub fn write_label_ll(path: &Path, rows: &[LabelLlRecord]) -> Result<()> {
    let f64_col = |name: &str, f: fn(&LabelLlRecord) -> f64| {
        Column::new(name.into(), rows.iter().map(f).collect::<Vec<f64>>())
    };
    let columns = vec![
        str_col("arm", rows.iter().map(|r| Some(r.arm.as_str()))),
        str_col(
            "question_id",
            rows.iter().map(|r| Some(r.question_id.as_str())),
        ),
        str_col("label", rows.iter().map(|r| Some(r.label.as_str()))),
        f64_col("log_prob", |r| r.log_prob),
        f64_col("norm_log_prob", |r| r.norm_log_prob),
        f64_col("log_prob_lower", |r| r.log_prob_lower),
        f64_col("log_prob_capital", |r| r.log_prob_capital),
        Column::new("ms".into(), rows.iter().map(|r| r.ms).collect::<Vec<u64>>()),
    ];
    write(path, rows.len(), columns)
}

/// Reads `label_ll.parquet` (or one of its part files), rows in file order. A label that is not
/// yes, no or maybe is bad input naming the row.
pub fn read_label_ll(path: &Path) -> Result<Vec<LabelLlRecord>> {
    let df = super::read(path)?;
    let t = Reader { df: &df, path };
    let (arms, qids, labels) = (t.strs("arm")?, t.strs("question_id")?, t.strs("label")?);
    let (lp, norm) = (t.f64s("log_prob")?, t.f64s("norm_log_prob")?);
    let (lower, capital, ms) = (
        t.f64s("log_prob_lower")?,
        t.f64s("log_prob_capital")?,
        t.u64s("ms")?,
    );
    let mut out = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        let label = [Label::Yes, Label::No, Label::Maybe]
            .into_iter()
            .find(|l| l.as_str() == labels[i])
            .ok_or_else(|| {
                DataError::bad_record(
                    path,
                    format!("row {}", i + 1),
                    format!("label `{}` is not yes, no or maybe", labels[i]),
                )
            })?;
        out.push(LabelLlRecord {
            arm: arms[i].clone(),
            question_id: qids[i].clone(),
            label,
            log_prob: lp[i],
            norm_log_prob: norm[i],
            log_prob_lower: lower[i],
            log_prob_capital: capital[i],
            ms: ms[i],
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_and_a_bad_label_names_its_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("label_ll.parquet");
        let row = |label, lp: f64| LabelLlRecord {
            arm: "d/m/n0".into(),
            question_id: "q1".into(),
            label,
            log_prob: lp,
            norm_log_prob: lp / label.as_str().len() as f64,
            log_prob_lower: lp - 1.0,
            log_prob_capital: lp - 0.5,
            ms: 12,
        };
        let rows = vec![row(Label::Yes, -0.7), row(Label::No, -1.2)];
        write_label_ll(&path, &rows).unwrap();
        assert_eq!(read_label_ll(&path).unwrap(), rows);

        let mut df = polars::df!("arm" => ["a"], "question_id" => ["q"], "label" => ["true"],
            "log_prob" => [-1.0], "norm_log_prob" => [-0.25], "log_prob_lower" => [-1.0],
            "log_prob_capital" => [-2.0], "ms" => [1u64])
        .unwrap();
        let bad = dir.path().join("bad.parquet");
        ParquetWriter::new(std::fs::File::create(&bad).unwrap())
            .finish(&mut df)
            .unwrap();
        let err = read_label_ll(&bad).unwrap_err().to_string();
        assert!(err.contains("row 1") && err.contains("`true`"), "{err}");
    }
}
