//! Generic JSONL / CSV / parquet input with a column mapping (`--map question=q,answer=a,…`).
//!
//! Keys: `id`, `question`, `answer` (a string or a list of strings; an explicit empty list `[]`
//! marks an unanswerable question), `context` (the passage, becomes the gold document), `doc_id`,
//! `title`, `label` (yes/no/maybe or true/false: makes a label question). `question` and `answer`
//! are required; a key without a mapping reads the column of its own name when present. In CSV
//! a cell that starts with `[` is read as a JSON list of strings.

use super::inputs::{resolve, InputFile};
use super::json_util::{kind, read_jsonl};
use super::raw::{Imported, Locator, RawDocument, RawRecord};
use crate::error::{DataError, Result};
use crate::schema::{AnswerType, Label};
use polars::prelude::*;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// The mapping keys `--map` accepts.
pub const MAP_KEYS: [&str; 7] = [
    "id", "question", "answer", "context", "doc_id", "title", "label",
];

/// Which input column feeds each canonical key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnMap(BTreeMap<String, String>);

impl ColumnMap {
    /// Parses `KEY=COLUMN,KEY=COLUMN`; unknown keys are bad input naming the valid ones.
    pub fn parse(spec: &str) -> std::result::Result<Self, String> {
        let mut map = BTreeMap::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, column) = part
                .split_once('=')
                .ok_or_else(|| format!("--map entry `{part}` must look like KEY=COLUMN"))?;
            let key = key.trim();
            if !MAP_KEYS.contains(&key) {
                return Err(format!(
                    "--map key `{key}` is unknown; valid keys: {}",
                    MAP_KEYS.join(", ")
                ));
            }
            map.insert(key.to_string(), column.trim().to_string());
        }
        Ok(Self(map))
    }

    /// The column for `key`: the mapped one, else a column named like the key (the chat importer
    /// reads its line fields through it too).
    pub(crate) fn column<'a>(&'a self, key: &'a str) -> &'a str {
        self.0.get(key).map(String::as_str).unwrap_or(key)
    }
}

/// The three generic table formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFormat {
    Jsonl,
    Csv,
    Parquet,
}

/// Imports generic rows through `map`.
pub fn import(input: &Path, format: TableFormat, map: &ColumnMap) -> Result<Imported> {
    let ext = match format {
        TableFormat::Jsonl => "jsonl",
        TableFormat::Csv => "csv",
        TableFormat::Parquet => "parquet",
    };
    let mut out = Imported::default();
    for file in resolve(input, &[], &[ext])? {
        let (unit, rows) = match format {
            TableFormat::Jsonl => ("line", read_jsonl(&file.path)?),
            TableFormat::Csv => ("row", read_table(&file, true)?),
            TableFormat::Parquet => ("row", read_table(&file, false)?),
        };
        for (n, row) in rows {
            out.rows += 1;
            out.records
                .push(record(&file, file.at_unit(n, unit), &row, map)?);
        }
    }
    Ok(out)
}

fn record(file: &InputFile, loc: Locator, row: &Value, map: &ColumnMap) -> Result<RawRecord> {
    let get = |key: &str| row.get(map.column(key)).filter(|v| !v.is_null());
    let text = |key: &str| -> Result<Option<String>> {
        match get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(other) => Err(DataError::bad_record(
                &loc.file,
                loc.describe(),
                format!(
                    "column `{}` must be a string, found {}",
                    map.column(key),
                    kind(other)
                ),
            )),
        }
    };
    let required = |key: &str| -> DataError {
        DataError::bad_record(
            &loc.file,
            loc.describe(),
            format!(
                "missing required column `{}` (map it with --map {key}=COLUMN)",
                map.column(key)
            ),
        )
    };
    let question = text("question")?.ok_or_else(|| required("question"))?;
    let answers: Vec<String> = match get("answer") {
        None => return Err(required("answer")),
        Some(Value::String(s)) if s.trim_start().starts_with('[') => parse_list(s, &loc)?,
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Number(n)) => vec![n.to_string()],
        Some(Value::Bool(b)) => vec![b.to_string()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str().map(str::to_string).ok_or_else(|| {
                    DataError::bad_record(
                        &loc.file,
                        loc.describe(),
                        "answer lists must hold strings",
                    )
                })
            })
            .collect::<Result<_>>()?,
        Some(other) => {
            return Err(DataError::bad_record(
                &loc.file,
                loc.describe(),
                format!(
                    "answer must be a string or a list of strings, found {}",
                    kind(other)
                ),
            ))
        }
    };
    let explicit_unanswerable = answers.is_empty();
    if !explicit_unanswerable && answers.iter().all(|a| a.trim().is_empty()) {
        return Err(DataError::bad_record(
            &loc.file,
            loc.describe(),
            "empty answer; give the reference answer, or [] for an unanswerable question",
        ));
    }
    let label = match text("label")? {
        None => None,
        Some(l) => Some(Label::parse(&l).ok_or_else(|| {
            DataError::bad_record(
                &loc.file,
                loc.describe(),
                format!("label `{l}` is not yes, no, maybe, true or false"),
            )
        })?),
    };
    let gold_documents = match text("context")? {
        Some(ctx) if !ctx.trim().is_empty() => vec![RawDocument {
            source_id: text("doc_id")?,
            title: text("title")?.unwrap_or_default(),
            text: ctx,
        }],
        _ => match text("doc_id")? {
            Some(id) => vec![RawDocument {
                source_id: Some(id),
                title: String::new(),
                text: String::new(),
            }],
            None => Vec::new(),
        },
    };
    let answers = match label {
        Some(l) if explicit_unanswerable => vec![l.as_str().to_string()],
        _ => answers
            .into_iter()
            .filter(|a| !a.trim().is_empty())
            .collect(),
    };
    Ok(RawRecord {
        source_id: text("id")?,
        locator: loc,
        question,
        answerable: !answers.is_empty(),
        answers,
        answer_type: if label.is_some() {
            AnswerType::Label
        } else {
            AnswerType::Free
        },
        label,
        gold_documents,
        source_split: file.relative.clone(),
    })
}

fn parse_list(s: &str, loc: &Locator) -> Result<Vec<String>> {
    serde_json::from_str::<Vec<String>>(s).map_err(|e| {
        DataError::bad_record(
            &loc.file,
            loc.describe(),
            format!("answer `{s}` starts with `[` but is not a JSON list of strings: {e}"),
        )
    })
}

/// Reads a CSV (every column as text) or parquet file into JSON rows numbered from 1.
fn read_table(file: &InputFile, csv: bool) -> Result<Vec<(usize, Value)>> {
    let path = &file.path;
    let df = if csv {
        CsvReadOptions::default()
            .with_has_header(true)
            .with_infer_schema_length(Some(0))
            .try_into_reader_with_file_path(Some(path.clone()))
            .and_then(|r| r.finish())
    } else {
        std::fs::File::open(path)
            .map_err(PolarsError::from)
            .and_then(|f| ParquetReader::new(f).finish())
    }
    .map_err(|e| match e {
        PolarsError::IO { error, .. } => {
            DataError::io(path, std::io::Error::new(error.kind(), error.to_string()))
        }
        other => DataError::bad_input(path, format!("cannot read table: {other}")),
    })?;
    let mut rows: Vec<Map<String, Value>> = vec![Map::new(); df.height()];
    for column in df.columns() {
        let name = column.name().to_string();
        let series = column.as_materialized_series();
        if let DataType::List(_) = series.dtype() {
            let lists = series
                .list()
                .map_err(|e| DataError::bad_input(path, e.to_string()))?;
            for (row, item) in rows.iter_mut().zip(lists.amortized_iter()) {
                let value = match item {
                    None => Value::Null,
                    Some(inner) => {
                        let inner = inner.as_ref().cast(&DataType::String).map_err(|e| {
                            DataError::bad_input(path, format!("column `{name}`: {e}"))
                        })?;
                        let strs = inner
                            .str()
                            .map_err(|e| DataError::bad_input(path, e.to_string()))?;
                        Value::Array(
                            strs.iter()
                                .flatten()
                                .map(|s| Value::String(s.to_string()))
                                .collect(),
                        )
                    }
                };
                row.insert(name.clone(), value);
            }
        } else {
            let cast = series
                .cast(&DataType::String)
                .map_err(|e| DataError::bad_input(path, format!("column `{name}`: {e}")))?;
            let strs = cast
                .str()
                .map_err(|e| DataError::bad_input(path, e.to_string()))?;
            for (row, item) in rows.iter_mut().zip(strs.iter()) {
                row.insert(
                    name.clone(),
                    item.map(|s| Value::String(s.to_string()))
                        .unwrap_or(Value::Null),
                );
            }
        }
    }
    Ok(rows
        .into_iter()
        .enumerate()
        .map(|(i, m)| (i + 1, Value::Object(m)))
        .collect())
}
