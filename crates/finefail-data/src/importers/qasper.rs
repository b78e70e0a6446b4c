//! Qasper JSON: an object keyed by paper id, each with `title`, `abstract`, `full_text` (sections
//! with paragraphs; the published list form and the column form are both read) and `qas[]` whose
//! `answers[].answer` hold `unanswerable`, `extractive_spans`, `yes_no`, `free_form_answer`.
//! One reference per annotator (spans joined with ", ", yes/no as "Yes"/"No"); a question no
//! annotator could answer is unanswerable. The paper is the gold document.

use super::inputs::resolve;
use super::json_util::{kind, read_json, req_str};
use super::raw::{Imported, RawDocument, RawRecord};
use crate::error::{DataError, Result};
use crate::schema::AnswerType;
use serde_json::Value;
use std::path::Path;

/// Imports Qasper-format files.
pub fn import(input: &Path) -> Result<Imported> {
    let mut out = Imported::default();
    for file in resolve(input, &[], &["json"])? {
        let root = read_json(&file.path)?;
        let papers = root.as_object().ok_or_else(|| {
            DataError::bad_input(
                &file.path,
                format!(
                    "expected an object keyed by paper id, found {}",
                    kind(&root)
                ),
            )
        })?;
        let mut n = 0usize;
        for (paper_id, paper) in papers {
            let title = paper
                .get("title")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let text = paper_text(paper);
            let qas = paper.get("qas").and_then(Value::as_array).ok_or_else(|| {
                DataError::bad_record(
                    &file.path,
                    format!("paper `{paper_id}`"),
                    "missing list `qas`",
                )
            })?;
            for qa in qas {
                n += 1;
                out.rows += 1;
                let loc = file.at_unit(n, "question");
                let mut answers: Vec<String> = Vec::new();
                for a in qa
                    .get("answers")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let a = a.get("answer").unwrap_or(a);
                    if let Some(text) = annotator_answer(a) {
                        if !answers.contains(&text) {
                            answers.push(text);
                        }
                    }
                }
                out.records.push(RawRecord {
                    source_id: Some(req_str(qa, "question_id", &loc)?),
                    locator: loc.clone(),
                    question: req_str(qa, "question", &loc)?,
                    answerable: !answers.is_empty(),
                    answers,
                    answer_type: AnswerType::Free,
                    label: None,
                    gold_documents: vec![RawDocument {
                        source_id: Some(paper_id.clone()),
                        title: title.clone(),
                        text: text.clone(),
                    }],
                    source_split: file.relative.clone(),
                });
            }
        }
    }
    Ok(out)
}

/// One annotator's answer, or None when they marked it unanswerable.
fn annotator_answer(a: &Value) -> Option<String> {
    if a.get("unanswerable").and_then(Value::as_bool) == Some(true) {
        return None;
    }
    let spans: Vec<&str> = a
        .get("extractive_spans")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .collect();
    if !spans.is_empty() {
        return Some(spans.join(", "));
    }
    if let Some(b) = a.get("yes_no").and_then(Value::as_bool) {
        return Some(if b { "Yes" } else { "No" }.to_string());
    }
    a.get("free_form_answer")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Title, abstract and every section (name, then paragraphs), separated by blank lines.
fn paper_text(paper: &Value) -> String {
    let mut parts: Vec<String> = Vec::new();
    for key in ["title", "abstract"] {
        if let Some(s) = paper
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            parts.push(s.to_string());
        }
    }
    let strs = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    };
    match paper.get("full_text") {
        Some(Value::Array(sections)) => {
            for s in sections {
                if let Some(name) = s.get("section_name").and_then(Value::as_str) {
                    parts.push(name.to_string());
                }
                parts.extend(s.get("paragraphs").map(strs).unwrap_or_default());
            }
        }
        Some(Value::Object(cols)) => {
            let names = cols.get("section_name").map(strs).unwrap_or_default();
            let paras: Vec<Vec<String>> = cols
                .get("paragraphs")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(strs)
                .collect();
            for (i, p) in paras.into_iter().enumerate() {
                if let Some(name) = names.get(i) {
                    parts.push(name.clone());
                }
                parts.extend(p);
            }
        }
        _ => {}
    }
    parts.retain(|p| !p.trim().is_empty());
    parts.join("\n\n")
}
