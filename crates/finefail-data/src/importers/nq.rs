//! Natural Questions, simplified JSONL: `question_text`, `document_text` (space-separated tokens,
//! HTML tags included), `annotations[]` with `long_answer` and `short_answers` token spans and
//! `yes_no_answer`. References are the short answers; without one, the long answer's text; a
//! YES/NO annotation makes a label question. The page (HTML tokens removed) is the gold document.

use super::inputs::resolve;
use super::json_util::{opt_str, read_jsonl, req_str};
use super::raw::{Imported, RawDocument, RawRecord};
use crate::error::{DataError, Result};
use crate::schema::{AnswerType, Label};
use serde_json::Value;
use std::path::Path;

/// Imports simplified-NQ JSONL files.
pub fn import(input: &Path) -> Result<Imported> {
    let mut out = Imported::default();
    for file in resolve(input, &[], &["jsonl"])? {
        for (line, v) in read_jsonl(&file.path)? {
            out.rows += 1;
            let loc = file.at(line);
            let question = req_str(&v, "question_text", &loc)?;
            let document = req_str(&v, "document_text", &loc)?;
            let tokens: Vec<&str> = document.split(' ').collect();
            let span = |s: &Value| -> Result<Option<String>> {
                let start = s.get("start_token").and_then(Value::as_i64).unwrap_or(-1);
                let end = s.get("end_token").and_then(Value::as_i64).unwrap_or(-1);
                if start < 0 || end <= start {
                    return Ok(None);
                }
                if end as usize > tokens.len() {
                    return Err(DataError::bad_record(
                        &loc.file,
                        loc.describe(),
                        format!(
                            "answer span {start}..{end} is past the document's {} tokens",
                            tokens.len()
                        ),
                    ));
                }
                let text = strip_html(&tokens[start as usize..end as usize]);
                Ok((!text.is_empty()).then_some(text))
            };
            let mut shorts = Vec::new();
            let mut longs = Vec::new();
            let mut label = None;
            for ann in v
                .get("annotations")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                for s in ann
                    .get("short_answers")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(t) = span(s)? {
                        shorts.push(t);
                    }
                }
                if let Some(l) = ann.get("long_answer") {
                    if let Some(t) = span(l)? {
                        longs.push(t);
                    }
                }
                if let Some(yn) = ann.get("yes_no_answer").and_then(Value::as_str) {
                    if yn != "NONE" {
                        label = label.or(Label::parse(yn));
                    }
                }
            }
            let (answer_type, mut answers) = if let Some(l) = label {
                (AnswerType::Label, vec![l.as_str().to_string()])
            } else if !shorts.is_empty() {
                (AnswerType::Span, shorts)
            } else {
                (AnswerType::Free, longs)
            };
            let mut seen = std::collections::HashSet::new();
            answers.retain(|a| seen.insert(a.clone()));
            let url = opt_str(&v, "document_url").unwrap_or_default();
            out.records.push(RawRecord {
                source_id: opt_str(&v, "example_id"),
                locator: loc,
                question,
                answerable: !answers.is_empty(),
                answers,
                answer_type,
                label,
                gold_documents: vec![RawDocument {
                    source_id: None,
                    title: title_from_url(&url),
                    text: strip_html(&tokens),
                }],
                source_split: file.relative.clone(),
            });
        }
    }
    Ok(out)
}

/// Joins tokens, leaving out HTML tag tokens such as `<P>` or `</Td>`.
fn strip_html(tokens: &[&str]) -> String {
    tokens
        .iter()
        .filter(|t| !t.is_empty() && !is_html_tag(t))
        .copied()
        .collect::<Vec<_>>()
        .join(" ")
}

/// NQ marks HTML structure with tag tokens such as `<P>`, `</Td>`.
fn is_html_tag(token: &str) -> bool {
    token.starts_with('<') && token.ends_with('>')
}

/// The page title from a Wikipedia URL (`…?title=Foo_bar&…` or `…/wiki/Foo_bar`).
fn title_from_url(url: &str) -> String {
    let raw = url
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("title="))
        .or_else(|| url.rsplit_once("/wiki/").map(|(_, t)| t))
        .unwrap_or("");
    raw.replace('_', " ")
}
