//! `scores.parquet` and `comparison.json`: writing (atomically, through
//! `finefail_core::atomic`) and reading back.

use std::fs::File;
use std::path::Path;

use finefail_core::atomic::{write_file, write_with};

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::stats::trend::Trend;
use crate::{Comparison, Metric, ScoreError, ScoreRow};

/// The columns of `scores.parquet`, in order.
pub const SCORE_COLUMNS: [&str; 7] = [
    "arm",
    "question_id",
    "metric",
    "value",
    "repeat",
    "judge",
    "error",
];

/// The whole of `comparison.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComparisonFile {
    /// What produced the comparisons: under `finefail run`, the hash of the run's configuration
    /// (the manifest's `config_hash`); under `finefail score`, which has no configuration, the
    /// sha256 of the answer files it read, in order. The key keeps its name for existing files.
    pub config_hash: String,
    /// `stats.alpha`: the verdicts' level; every CI is at `1 − alpha`.
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// Where the primary metrics came from: the default rule or `stats.primary`. Files written
    /// before the field existed read as `default`.
    #[serde(default)]
    pub primary_source: PrimarySource,
    /// One entry per (dataset, model, N > 0, context, metric) and comparison kind.
    pub comparisons: Vec<Comparison>,
    /// The trend across N per (dataset, model, context, metric) with two or more fine-tuned
    /// sizes; empty in files written before it existed.
    #[serde(default)]
    pub trends: Vec<Trend>,
}

/// Who chose the primary metrics (`primary_source` in `comparison.json`): which metric is primary
/// decides the Holm family, so a choice made by the config is recorded, not only hashed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrimarySource {
    /// The documented rule (judge → accuracy, completeness; label dataset → label accuracy; else
    /// token F1, answer recall).
    #[default]
    Default,
    /// `stats.primary` in the config.
    Config,
}

impl PrimarySource {
    /// `config` when the statistics were given a primary list, else `default`.
    pub fn of(primary: &Option<Vec<Metric>>) -> Self {
        if primary.is_some() {
            PrimarySource::Config
        } else {
            PrimarySource::Default
        }
    }
}

fn default_alpha() -> f64 {
    0.05
}

/// Writes `scores.parquet`. Refuses (internal error) a row with no value and no error, so a
/// missing score can never pass for a real one.
pub fn write_scores(path: &Path, rows: &[ScoreRow]) -> Result<(), ScoreError> {
    if let Some(r) = rows.iter().find(|r| r.value.is_none() && r.error.is_none()) {
        return Err(ScoreError::Internal(format!(
            "score row {} {} {} has neither value nor error",
            r.arm, r.question_id, r.metric
        )));
    }
    if let Some(r) = rows
        .iter()
        .find(|r| r.value.is_some_and(|v| !v.is_finite()))
    {
        return Err(ScoreError::Internal(format!(
            "score row {} {} {} is not finite",
            r.arm, r.question_id, r.metric
        )));
    }
    let col = |name: &str, v: Vec<Option<&str>>| Column::new(name.into(), v);
    let columns = vec![
        col("arm", rows.iter().map(|r| Some(r.arm.as_str())).collect()),
        col(
            "question_id",
            rows.iter().map(|r| Some(r.question_id.as_str())).collect(),
        ),
        col(
            "metric",
            rows.iter().map(|r| Some(r.metric.name())).collect(),
        ),
        Column::new(
            "value".into(),
            rows.iter().map(|r| r.value).collect::<Vec<Option<f64>>>(),
        ),
        Column::new(
            "repeat".into(),
            rows.iter()
                .map(|r| i64::from(r.repeat))
                .collect::<Vec<i64>>(),
        ),
        col("judge", rows.iter().map(|r| r.judge.as_deref()).collect()),
        col("error", rows.iter().map(|r| r.error.as_deref()).collect()),
    ];
    let mut df = DataFrame::new(rows.len(), columns).map_err(|e| ScoreError::table(path, e))?;
    write_with(path, |f| {
        ParquetWriter::new(f)
            .finish(&mut df)
            .map(|_| ())
            .map_err(|e| ScoreError::table(path, e))
    })
}

/// Reads `scores.parquet` back. A missing column, an unknown metric, or a row with neither value
/// nor error is bad input (the file is not ours or was damaged).
pub fn read_scores(path: &Path) -> Result<Vec<ScoreRow>, ScoreError> {
    let file = File::open(path).map_err(|e| ScoreError::io(path, e))?;
    let df = ParquetReader::new(file).finish().map_err(|e| {
        ScoreError::BadInput(format!(
            "{}: not a readable parquet file: {e}",
            path.display()
        ))
    })?;
    let bad = |m: String| ScoreError::BadInput(format!("{}: {m}", path.display()));
    let get = |name: &str| {
        df.column(name)
            .map_err(|_| bad(format!("missing column `{name}`")))
    };
    let strs = |name: &str| -> Result<Vec<Option<String>>, ScoreError> {
        let c = get(name)?
            .cast(&DataType::String)
            .map_err(|e| bad(e.to_string()))?;
        let ca = c.str().map_err(|e| bad(e.to_string()))?;
        Ok(ca.iter().map(|s| s.map(str::to_owned)).collect())
    };
    let arm = strs("arm")?;
    let qid = strs("question_id")?;
    let metric = strs("metric")?;
    let judge = strs("judge")?;
    let error = strs("error")?;
    let value_col = get("value")?
        .cast(&DataType::Float64)
        .map_err(|e| bad(e.to_string()))?;
    let value: Vec<Option<f64>> = value_col
        .f64()
        .map_err(|e| bad(e.to_string()))?
        .iter()
        .collect();
    let repeat_col = get("repeat")?
        .cast(&DataType::Int64)
        .map_err(|e| bad(e.to_string()))?;
    let repeat: Vec<Option<i64>> = repeat_col
        .i64()
        .map_err(|e| bad(e.to_string()))?
        .iter()
        .collect();

    let mut rows = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        let need = |v: &Option<String>, what: &str| {
            v.clone()
                .ok_or_else(|| bad(format!("row {i}: null `{what}`")))
        };
        let m: Metric = need(&metric[i], "metric")?.parse()?;
        let rep = repeat[i]
            .and_then(|r| u32::try_from(r).ok())
            .ok_or_else(|| bad(format!("row {i}: bad `repeat`")))?;
        if value[i].is_none() && error[i].is_none() {
            return Err(bad(format!("row {i}: neither value nor error")));
        }
        rows.push(ScoreRow {
            arm: need(&arm[i], "arm")?,
            question_id: need(&qid[i], "question_id")?,
            metric: m,
            value: value[i],
            repeat: rep,
            judge: judge[i].clone(),
            error: error[i].clone(),
        });
    }
    Ok(rows)
}

/// Writes `comparison.json` (pretty-printed; NaN cannot occur: absent numbers are `null`).
pub fn write_comparison(path: &Path, file: &ComparisonFile) -> Result<(), ScoreError> {
    let text =
        serde_json::to_string_pretty(file).map_err(|e| ScoreError::Internal(e.to_string()))?;
    write_file(path, format!("{text}\n").as_bytes())?;
    Ok(())
}

/// Reads `comparison.json` back (bad input when it does not have the pinned shape).
pub fn read_comparison(path: &Path) -> Result<ComparisonFile, ScoreError> {
    let text = std::fs::read_to_string(path).map_err(|e| ScoreError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| {
        ScoreError::BadInput(format!("{}: not a comparison file: {e}", path.display()))
    })
}
