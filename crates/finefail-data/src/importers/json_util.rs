//! Small helpers for reading JSON records with errors that name the file, the record and the fix.

use super::raw::Locator;
use crate::error::{DataError, Result};
use serde_json::Value;
use std::path::Path;

/// Reads a JSONL file: one JSON object per non-blank line, with its 1-based line number.
pub fn read_jsonl(path: &Path) -> Result<Vec<(usize, Value)>> {
    let text = read_text(path)?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(line).map_err(|e| {
            DataError::bad_record(
                path,
                format!("line {}", i + 1),
                format!("malformed JSON: {e}; each line must be one JSON object"),
            )
        })?;
        if !value.is_object() {
            return Err(DataError::bad_record(
                path,
                format!("line {}", i + 1),
                "expected a JSON object on each line",
            ));
        }
        out.push((i + 1, value));
    }
    Ok(out)
}

/// Reads a whole JSON document.
pub fn read_json(path: &Path) -> Result<Value> {
    let text = read_text(path)?;
    serde_json::from_str(&text).map_err(|e| {
        DataError::bad_record(
            path,
            format!("line {}", e.line()),
            format!("malformed JSON: {e}"),
        )
    })
}

/// Reads a UTF-8 text file, naming it on failure.
pub fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    String::from_utf8(bytes)
        .map_err(|e| DataError::bad_input(path, format!("not valid UTF-8 text: {e}")))
}

/// A required string field of a record; missing, null or not a string is bad input naming it.
pub fn req_str(value: &Value, field: &str, loc: &Locator) -> Result<String> {
    match value.get(field) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Null) | None => Err(missing(field, loc)),
        Some(other) => Err(DataError::bad_record(
            &loc.file,
            loc.describe(),
            format!("field `{field}` must be a string, found {}", kind(other)),
        )),
    }
}

/// An optional string field (absent or null gives None; numbers are printed).
pub fn opt_str(value: &Value, field: &str) -> Option<String> {
    match value.get(field)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The error for a missing required field.
pub fn missing(field: &str, loc: &Locator) -> DataError {
    DataError::bad_record(
        &loc.file,
        loc.describe(),
        format!("missing required field `{field}`"),
    )
}

/// The JSON type name of a value, for error messages.
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Strings of a field that may be one string or a list of strings (others are bad input).
pub fn str_or_list(value: &Value, field: &str, loc: &Locator) -> Result<Option<Vec<String>>> {
    match value.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                other => Err(DataError::bad_record(
                    &loc.file,
                    loc.describe(),
                    format!("field `{field}` must hold strings, found {}", kind(other)),
                )),
            })
            .collect::<Result<Vec<_>>>()
            .map(Some),
        Some(Value::Number(n)) => Ok(Some(vec![n.to_string()])),
        Some(other) => Err(DataError::bad_record(
            &loc.file,
            loc.describe(),
            format!(
                "field `{field}` must be a string or a list of strings, found {}",
                kind(other)
            ),
        )),
    }
}
