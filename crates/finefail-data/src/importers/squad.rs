//! SQuAD v1.1 / v2.0 JSON: `data[].paragraphs[].qas[]` with span answers over the paragraph;
//! v2.0's `is_impossible` (or no answers) marks an unanswerable question.

use super::inputs::resolve;
use super::json_util::{kind, read_json, req_str};
use super::raw::{Imported, RawDocument, RawRecord};
use crate::error::{DataError, Result};
use crate::schema::AnswerType;
use serde_json::Value;
use std::path::Path;

/// Imports SQuAD-format files.
pub fn import(input: &Path) -> Result<Imported> {
    let mut out = Imported::default();
    for file in resolve(input, &[], &["json"])? {
        let root = read_json(&file.path)?;
        let articles = array(&root, "data", &file.path, "the top level")?;
        let mut n = 0usize;
        for article in articles {
            let title = article
                .get("title")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            for paragraph in array(article, "paragraphs", &file.path, "an article")? {
                let context = paragraph
                    .get("context")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        DataError::bad_record(
                            &file.path,
                            format!("article `{title}`"),
                            "paragraph without `context`",
                        )
                    })?;
                for qa in array(paragraph, "qas", &file.path, "a paragraph")? {
                    n += 1;
                    out.rows += 1;
                    let loc = file.at_unit(n, "question");
                    let mut answers: Vec<String> = Vec::new();
                    if let Some(list) = qa.get("answers").and_then(Value::as_array) {
                        for a in list {
                            let text = req_str(a, "text", &loc)?;
                            if !answers.contains(&text) {
                                answers.push(text);
                            }
                        }
                    }
                    let impossible = qa
                        .get("is_impossible")
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    let answerable = !impossible && !answers.is_empty();
                    if !answerable {
                        answers.clear();
                    }
                    out.records.push(RawRecord {
                        source_id: Some(req_str(qa, "id", &loc)?),
                        locator: loc.clone(),
                        question: req_str(qa, "question", &loc)?,
                        answers,
                        answer_type: AnswerType::Span,
                        label: None,
                        answerable,
                        gold_documents: vec![RawDocument {
                            source_id: None,
                            title: title.clone(),
                            text: context.to_string(),
                        }],
                        source_split: file.relative.clone(),
                    });
                }
            }
        }
    }
    Ok(out)
}

/// A required list field, with an error naming where it was expected.
pub(crate) fn array<'a>(
    value: &'a Value,
    field: &str,
    path: &Path,
    within: &str,
) -> Result<&'a Vec<Value>> {
    match value.get(field) {
        Some(Value::Array(a)) => Ok(a),
        None | Some(Value::Null) => Err(DataError::bad_input(
            path,
            format!("missing list `{field}` in {within}"),
        )),
        Some(other) => Err(DataError::bad_input(
            path,
            format!(
                "`{field}` in {within} must be a list, found {}",
                kind(other)
            ),
        )),
    }
}
