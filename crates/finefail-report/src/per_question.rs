//! `per_question.parquet` and `per_question.csv`: every answered question of every arm with its
//! answer, references, retrieved chunk ids and each metric (mean over judge repeats), plus the
//! difference to the base arm on the same question — so the worst regressions sort to the top.
//!
//! The CSV carries the same columns; its two list columns (`references`, `retrieved_chunk_ids`)
//! are written as JSON arrays, since CSV has no lists.

use finefail_core::AnswerContext;
use std::collections::BTreeSet;
use std::path::Path;

use finefail_core::atomic::write_with;
use finefail_score::Metric;
use polars::prelude::*;

use crate::analysis::{base_arm, Analysis};
use crate::ReportError;

/// The fixed leading columns (metric columns follow: `{metric}`, `{metric}_vs_base`). `format`
/// (the training format when the study names several) and `icl_shots` (K of an in-context arm)
/// are null elsewhere: with them a filter on `n == 0` can tell the base arm from `icl{K}`.
pub const FIXED_COLUMNS: [&str; 17] = [
    "dataset",
    "model",
    "arm",
    "n",
    "format",
    "icl_shots",
    "seed",
    "context",
    "question_id",
    "question",
    "references",
    "answer",
    "answer_tokens",
    "prompt_tokens",
    "ms",
    "retrieved_chunk_ids",
    "judge_error_rows",
];

/// One row before it becomes columns.
struct Row<'a> {
    dataset: &'a str,
    model: &'a str,
    arm: &'a str,
    n: u64,
    format: Option<&'a str>,
    icl_shots: Option<u64>,
    seed: Option<u64>,
    context: AnswerContext,
    question_id: &'a str,
    question: &'a str,
    references: &'a [String],
    answer: &'a str,
    answer_tokens: u64,
    prompt_tokens: u64,
    ms: f64,
    chunks: &'a [String],
    errors: usize,
}

/// Rows order the study's context first, then the controls (`none`, `gold`).
fn context_rank(c: AnswerContext) -> usize {
    AnswerContext::ALL
        .iter()
        .position(|x| *x == c)
        .unwrap_or(usize::MAX)
}

/// The table as columns; `lists_as_json` for the CSV variant.
fn columns(a: &Analysis<'_>, lists_as_json: bool) -> Result<(usize, Vec<Column>), ReportError> {
    let empty: &[String] = &[];
    let mut error_rows: std::collections::HashMap<(&str, &str), usize> = Default::default();
    for r in &a.input.scores {
        if r.value.is_none() || r.error.is_some() {
            *error_rows
                .entry((r.arm.as_str(), r.question_id.as_str()))
                .or_insert(0) += 1;
        }
    }
    let mut rows: Vec<Row<'_>> = Vec::with_capacity(a.input.answers.len());
    for ans in &a.input.answers {
        let arm = &a.arms[&ans.arm];
        let q = a.questions[&arm.dataset][&ans.question_id];
        let chunks = if arm.context.is_retrieved() {
            a.input
                .datasets
                .iter()
                .find(|d| d.name == arm.dataset)
                .and_then(|d| d.retrieval.get(&ans.question_id))
                .map_or(empty, Vec::as_slice)
        } else {
            empty
        };
        rows.push(Row {
            dataset: &arm.dataset,
            model: &arm.model,
            arm: &ans.arm,
            n: arm.n,
            format: arm.format.as_deref(),
            icl_shots: arm.icl,
            seed: arm.seed,
            context: arm.context,
            question_id: &ans.question_id,
            question: &q.question,
            references: &q.answers,
            answer: &ans.answer,
            answer_tokens: ans.answer_tokens,
            prompt_tokens: ans.prompt_tokens,
            ms: ans.ms as f64,
            chunks,
            errors: error_rows
                .get(&(ans.arm.as_str(), ans.question_id.as_str()))
                .copied()
                .unwrap_or(0),
        });
    }
    rows.sort_by(|x, y| {
        (
            x.dataset,
            x.model,
            context_rank(x.context),
            x.n,
            x.seed,
            x.question_id,
        )
            .cmp(&(
                y.dataset,
                y.model,
                context_rank(y.context),
                y.n,
                y.seed,
                y.question_id,
            ))
    });

    let strs = |name: &str, f: &dyn Fn(&Row<'_>) -> Option<String>| {
        Column::new(
            name.into(),
            rows.iter().map(f).collect::<Vec<Option<String>>>(),
        )
    };
    let lists = |name: &str, vals: Vec<&[String]>| -> Result<Column, ReportError> {
        if lists_as_json {
            let v: Vec<String> = vals
                .iter()
                .map(|l| serde_json::to_string(l).unwrap_or_else(|_| "[]".into()))
                .collect();
            return Ok(Column::new(name.into(), v));
        }
        let series: Vec<Series> = vals
            .iter()
            .map(|l| Series::new(PlSmallStr::EMPTY, *l))
            .collect();
        let list_type = DataType::List(Box::new(DataType::String));
        let s = if series.is_empty() {
            Series::new_empty(name.into(), &list_type)
        } else {
            Series::new(name.into(), series.as_slice())
        };
        s.cast(&list_type)
            .map(Series::into_column)
            .map_err(|e| ReportError::table(Path::new("per_question"), e))
    };
    let mut cols = vec![
        strs("dataset", &|r| Some(r.dataset.to_owned())),
        strs("model", &|r| Some(r.model.to_owned())),
        strs("arm", &|r| Some(r.arm.to_owned())),
        Column::new(
            "n".into(),
            rows.iter().map(|r| r.n as i64).collect::<Vec<i64>>(),
        ),
        strs("format", &|r| r.format.map(str::to_owned)),
        Column::new(
            "icl_shots".into(),
            rows.iter()
                .map(|r| r.icl_shots.map(|k| k as i64))
                .collect::<Vec<Option<i64>>>(),
        ),
        Column::new(
            "seed".into(),
            rows.iter()
                .map(|r| r.seed.map(|s| s as i64))
                .collect::<Vec<Option<i64>>>(),
        ),
        strs("context", &|r| Some(r.context.to_string())),
        strs("question_id", &|r| Some(r.question_id.to_owned())),
        strs("question", &|r| Some(r.question.to_owned())),
        lists("references", rows.iter().map(|r| r.references).collect())?,
        strs("answer", &|r| Some(r.answer.to_owned())),
        Column::new(
            "answer_tokens".into(),
            rows.iter()
                .map(|r| r.answer_tokens as i64)
                .collect::<Vec<i64>>(),
        ),
        Column::new(
            "prompt_tokens".into(),
            rows.iter()
                .map(|r| r.prompt_tokens as i64)
                .collect::<Vec<i64>>(),
        ),
        Column::new("ms".into(), rows.iter().map(|r| r.ms).collect::<Vec<f64>>()),
        lists(
            "retrieved_chunk_ids",
            rows.iter().map(|r| r.chunks).collect(),
        )?,
        Column::new(
            "judge_error_rows".into(),
            rows.iter().map(|r| r.errors as i64).collect::<Vec<i64>>(),
        ),
    ];
    let metrics: BTreeSet<Metric> = a.values.keys().map(|(_, m)| *m).collect();
    for metric in Metric::ALL.into_iter().filter(|m| metrics.contains(m)) {
        let value = |arm: &str, q: &str| a.arm_values(arm, metric).and_then(|v| v.get(q)).copied();
        let own: Vec<Option<f64>> = rows.iter().map(|r| value(r.arm, r.question_id)).collect();
        let vs_base: Vec<Option<f64>> = rows
            .iter()
            .zip(&own)
            .map(|(r, v)| {
                let base = value(&base_arm(r.dataset, r.model, r.context), r.question_id)?;
                Some(v.as_ref()? - base)
            })
            .collect();
        // `answer_tokens` is already a column (from answers.parquet); only its difference is new.
        if metric != Metric::AnswerTokens {
            cols.push(Column::new(metric.name().into(), own));
        }
        cols.push(Column::new(
            format!("{}_vs_base", metric.name()).into(),
            vs_base,
        ));
    }
    Ok((rows.len(), cols))
}

/// Writes `per_question.parquet` and `per_question.csv` (each atomically, through
/// `finefail_core::atomic::write_with`). Returns the number of rows.
pub(crate) fn write(a: &Analysis<'_>, parquet: &Path, csv: &Path) -> Result<usize, ReportError> {
    let (height, cols) = columns(a, false)?;
    let mut df = DataFrame::new(height, cols).map_err(|e| ReportError::table(parquet, e))?;
    write_with(parquet, |f| {
        ParquetWriter::new(f)
            .finish(&mut df)
            .map(|_| ())
            .map_err(|e| ReportError::table(parquet, e))
    })?;
    let (height, cols) = columns(a, true)?;
    let mut df = DataFrame::new(height, cols).map_err(|e| ReportError::table(csv, e))?;
    write_with(csv, |f| {
        CsvWriter::new(f)
            .include_header(true)
            .finish(&mut df)
            .map_err(|e| ReportError::table(csv, e))
    })?;
    Ok(height)
}
