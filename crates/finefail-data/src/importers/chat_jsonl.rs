//! Chat JSONL input (`--format chat-jsonl`): one `{"messages": [...]}` conversation per line, the
//! OpenAI fine-tuning format, so a dataset kept for a hosted fine-tuning API can be studied as it is
//! (and what `finefail data export --format chat-jsonl` writes reads back).
//!
//! * The question is the last user turn, the reference answer the last assistant turn (which must
//!   follow it). Only single-turn QA is read: a system message or several may come first, and any
//!   other turn before the last user turn is a multi-turn history, refused (the study compares
//!   single-turn question answering; a history would have to be flattened somehow, which changes
//!   what is compared).
//! * The passage (the gold document) is the line's `context` field by default; `--map
//!   context=system` takes the system message instead (exactly one must be present), and
//!   `--map context=FIELD` any other field of the line. `id`, `doc_id`, `title` and `label` are
//!   line fields, mapped as for `jsonl` ([`ColumnMap`]); `question` and `answer` come from the
//!   turns, so mapping them is refused.
//! * An assistant turn that is exactly [`ABSTENTION`] marks an unanswerable question (what the
//!   export writes for one), so a round trip keeps it unanswerable.
//! * Without an `id` field the id is `{dataset}:{file}:{line}` (the builder's rule), stable while
//!   the file's lines stay where they are.

use super::generic::ColumnMap;
use super::inputs::resolve;
use super::json_util::{kind, read_jsonl};
use super::raw::{Imported, Locator, RawDocument, RawRecord};
use crate::error::{DataError, Result};
use crate::schema::{AnswerType, Label, ABSTENTION};
use serde_json::Value;
use std::path::Path;

/// The `--map context=…` value that takes the passage from the system message.
pub const SYSTEM_CONTEXT: &str = "system";

/// Imports every chat JSONL line of `input` (a file, or every `.jsonl` file below a folder).
pub fn import(input: &Path, map: &ColumnMap) -> Result<Imported> {
    let mut out = Imported::default();
    let files = resolve(input, &[], &["jsonl"])?;
    for key in ["question", "answer"] {
        if map.column(key) != key {
            return Err(DataError::bad_input(
                input,
                format!(
                    "--map {key}=… does not apply to chat-jsonl: the question is the last user turn \
                     and the answer the last assistant turn (map only id, context, doc_id, title, label)"
                ),
            ));
        }
    }
    for file in files {
        for (n, row) in read_jsonl(&file.path)? {
            out.rows += 1;
            let loc = file.at(n);
            out.records
                .push(record(&loc, &row, map, file.relative.clone())?);
        }
    }
    Ok(out)
}

/// One turn's role and text.
struct Turn {
    role: String,
    content: String,
}

fn bad(loc: &Locator, message: impl Into<String>) -> DataError {
    DataError::bad_record(&loc.file, loc.describe(), message)
}

/// The turns of a line's `messages`, each with a known role and text content.
fn turns(row: &Value, loc: &Locator) -> Result<Vec<Turn>> {
    let messages = match row.get("messages") {
        None | Some(Value::Null) => {
            return Err(bad(
                loc,
                "missing required field `messages` (chat-jsonl lines look like {\"messages\": [{\"role\": \"user\", \"content\": …}, {\"role\": \"assistant\", \"content\": …}]})",
            ))
        }
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(bad(
                loc,
                format!("field `messages` must be a list, found {}", kind(other)),
            ))
        }
    };
    messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let at = format!("messages[{i}]");
            let role = match m.get("role") {
                Some(Value::String(r)) => r.clone(),
                _ => return Err(bad(loc, format!("{at} has no string `role`"))),
            };
            if !matches!(role.as_str(), "system" | "user" | "assistant") {
                return Err(bad(
                    loc,
                    format!("{at} has role `{role}`; chat-jsonl reads system, user and assistant turns only"),
                ));
            }
            let content = match m.get("content") {
                Some(Value::String(s)) => s.clone(),
                // OpenAI's content parts: text parts only, joined.
                Some(Value::Array(parts)) => parts
                    .iter()
                    .map(|p| match (p.get("type"), p.get("text")) {
                        (Some(Value::String(t)), Some(Value::String(s))) if t == "text" => {
                            Ok(s.as_str())
                        }
                        _ => Err(bad(
                            loc,
                            format!("{at} has a content part that is not {{\"type\": \"text\", \"text\": …}}"),
                        )),
                    })
                    .collect::<Result<Vec<_>>>()?
                    .concat(),
                Some(other) => {
                    return Err(bad(
                        loc,
                        format!("{at} `content` must be a string, found {}", kind(other)),
                    ))
                }
                None => return Err(bad(loc, format!("{at} has no `content`"))),
            };
            Ok(Turn { role, content })
        })
        .collect()
}

fn record(loc: &Locator, row: &Value, map: &ColumnMap, split: String) -> Result<RawRecord> {
    let turns = turns(row, loc)?;
    let last_user = turns
        .iter()
        .rposition(|t| t.role == "user")
        .ok_or_else(|| bad(loc, "no user turn: the last user turn is the question"))?;
    let last_assistant = turns.iter().rposition(|t| t.role == "assistant");
    let answer = match last_assistant {
        Some(a) if a > last_user => &turns[a],
        _ => {
            return Err(bad(
                loc,
                "missing assistant turn after the last user turn: the last assistant turn is the answer",
            ))
        }
    };
    let history = turns[..last_user]
        .iter()
        .filter(|t| t.role != "system")
        .count();
    if history > 0 {
        return Err(bad(
            loc,
            format!(
                "multi-turn history ({history} user/assistant turns before the last user turn) is \
                 not supported: chat-jsonl reads single-turn QA (system messages, one user turn, one assistant turn)"
            ),
        ));
    }
    if turns[last_user + 1..].len() > 1 {
        return Err(bad(
            loc,
            "turns follow the assistant answer: the assistant turn must be the last message",
        ));
    }
    let question = turns[last_user].content.clone();
    if question.trim().is_empty() {
        return Err(bad(loc, "the user turn (the question) is empty"));
    }
    let answer = answer.content.trim();
    if answer.is_empty() {
        return Err(bad(
            loc,
            format!("empty assistant turn; give the reference answer, or `{ABSTENTION}` for an unanswerable question"),
        ));
    }
    let field = |key: &str| -> Result<Option<String>> {
        let name = map.column(key);
        match row.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(other) => Err(bad(
                loc,
                format!("field `{name}` must be a string, found {}", kind(other)),
            )),
        }
    };
    let context = if map.column("context") == SYSTEM_CONTEXT {
        let systems: Vec<&Turn> = turns.iter().filter(|t| t.role == "system").collect();
        match systems.as_slice() {
            [] => None,
            [one] => Some(one.content.clone()),
            _ => {
                return Err(bad(
                    loc,
                    format!(
                        "{} system messages; with --map context=system the passage must be one system message",
                        systems.len()
                    ),
                ))
            }
        }
    } else {
        field("context")?
    };
    let label = match field("label")? {
        None => None,
        Some(l) => Some(Label::parse(&l).ok_or_else(|| {
            bad(
                loc,
                format!("label `{l}` is not yes, no, maybe, true or false"),
            )
        })?),
    };
    let gold_documents = match context {
        Some(text) if !text.trim().is_empty() => vec![RawDocument {
            source_id: field("doc_id")?,
            title: field("title")?.unwrap_or_default(),
            text,
        }],
        _ => match field("doc_id")? {
            Some(id) => vec![RawDocument {
                source_id: Some(id),
                title: String::new(),
                text: String::new(),
            }],
            None => Vec::new(),
        },
    };
    let answers = if answer == ABSTENTION && label.is_none() {
        Vec::new()
    } else {
        vec![answer.to_string()]
    };
    Ok(RawRecord {
        source_id: field("id")?,
        locator: loc.clone(),
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
        source_split: split,
    })
}
