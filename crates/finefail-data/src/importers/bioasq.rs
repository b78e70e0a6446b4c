//! BioASQ training-set JSON: `questions[]` with `body`, `type` (factoid / list / yesno / summary),
//! `ideal_answer`, `exact_answer`, `documents` (PubMed URLs) and `snippets`.
//!
//! BioASQ ships no document texts, only snippets, so a document's text is the union of its
//! snippets across the file (in order of first appearance) and its id the PubMed id. A question's
//! gold documents are the documents its snippets come from. References: the ideal answer(s) first
//! (the paper's free-form target), then the exact answers; yes/no questions are label questions.

use super::inputs::resolve;
use super::json_util::{read_json, req_str};
use super::raw::{Imported, RawDocument, RawRecord};
use super::squad::array;
use crate::error::{DataError, Result};
use crate::schema::{AnswerType, Label};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Imports BioASQ-format files.
pub fn import(input: &Path) -> Result<Imported> {
    let mut out = Imported::default();
    // doc id -> (first-seen order, snippets)
    let mut docs: BTreeMap<String, (usize, Vec<String>)> = BTreeMap::new();
    for file in resolve(input, &[], &["json"])? {
        let root = read_json(&file.path)?;
        for (i, q) in array(&root, "questions", &file.path, "the top level")?
            .iter()
            .enumerate()
        {
            out.rows += 1;
            let loc = file.at_unit(i + 1, "question");
            let id = req_str(q, "id", &loc)?;
            let body = req_str(q, "body", &loc)?;
            let qtype = req_str(q, "type", &loc)?;
            let mut answers = strings(q.get("ideal_answer"));
            let exact = strings(q.get("exact_answer"));
            let (answer_type, label) = if qtype == "yesno" {
                let word = exact.first().cloned().unwrap_or_default();
                let label = Label::parse(&word).ok_or_else(|| {
                    DataError::bad_record(
                        &loc.file,
                        loc.describe(),
                        format!(
                            "yes/no question `{id}` has exact_answer `{word}`; expected yes or no"
                        ),
                    )
                })?;
                answers.insert(0, label.as_str().to_string());
                (AnswerType::Label, Some(label))
            } else {
                answers.extend(exact);
                (AnswerType::Free, None)
            };
            dedup(&mut answers);
            if answers.is_empty() {
                return Err(DataError::bad_record(
                    &loc.file,
                    loc.describe(),
                    format!("question `{id}` has no ideal_answer or exact_answer"),
                ));
            }
            let mut gold = Vec::new();
            for snippet in q
                .get("snippets")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let (Some(url), Some(text)) = (
                    snippet.get("document").and_then(Value::as_str),
                    snippet.get("text").and_then(Value::as_str),
                ) else {
                    continue;
                };
                let doc_id = pubmed_id(url);
                let order = docs.len();
                let entry = docs.entry(doc_id.clone()).or_insert((order, Vec::new()));
                if !entry.1.iter().any(|s| s == text) {
                    entry.1.push(text.to_string());
                }
                if !gold.contains(&doc_id) {
                    gold.push(doc_id);
                }
            }
            out.records.push(RawRecord {
                source_id: Some(id),
                locator: loc,
                question: body,
                answers,
                answer_type,
                label,
                answerable: true,
                // Text-less references, resolved against the documents below by id.
                gold_documents: gold
                    .into_iter()
                    .map(|d| RawDocument {
                        source_id: Some(d),
                        title: String::new(),
                        text: String::new(),
                    })
                    .collect(),
                source_split: file.relative.clone(),
            });
        }
    }
    let mut ordered: Vec<_> = docs.into_iter().collect();
    ordered.sort_by_key(|(_, (order, _))| *order);
    out.extra_documents = ordered
        .into_iter()
        .map(|(id, (_, snippets))| RawDocument {
            source_id: Some(id),
            title: String::new(),
            text: snippets.join("\n"),
        })
        .collect();
    Ok(out)
}

/// `http://www.ncbi.nlm.nih.gov/pubmed/23001136` → `23001136`.
fn pubmed_id(url: &str) -> String {
    url.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(url)
        .to_string()
}

/// All strings in a value that may be a string, a list, or nested lists (exact answers).
fn strings(value: Option<&Value>) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) if !s.trim().is_empty() => out.push(s.trim().to_string()),
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    if let Some(v) = value {
        walk(v, &mut out);
    }
    out
}

fn dedup(items: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    items.retain(|s| seen.insert(s.clone()));
}
