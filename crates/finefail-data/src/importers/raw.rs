//! What an importer produces before ids, duplicates and documents are settled by the dataset
//! builder: records as the source gives them, each with where it came from.

use crate::schema::{AnswerType, Label};

/// Where a record came from: the file relative to `--input` (no extension) and the 1-based line or
/// record number. Used for fallback ids (`{dataset}:{file}:{line}`) and error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locator {
    pub file: std::path::PathBuf,
    pub relative: String,
    pub line: usize,
    /// What `line` counts: `line` for JSONL, `question` for JSON documents, `row` for tables.
    pub unit: &'static str,
}

impl Locator {
    /// The record reference used in error messages (`line 12`, `question 3`).
    pub fn describe(&self) -> String {
        format!("{} {}", self.unit, self.line)
    }
}

/// A document as a source gives it; `source_id` is kept when the source names its documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawDocument {
    pub source_id: Option<String>,
    pub title: String,
    pub text: String,
}

/// One question as a source gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct RawRecord {
    /// The source's own id, when it has one (checked for uniqueness by the builder).
    pub source_id: Option<String>,
    pub locator: Locator,
    pub question: String,
    pub answers: Vec<String>,
    pub answer_type: AnswerType,
    pub label: Option<Label>,
    pub answerable: bool,
    /// The documents holding the answer (become `gold_doc_ids`).
    pub gold_documents: Vec<RawDocument>,
    pub source_split: String,
}

/// Everything one import produced.
#[derive(Debug, Default)]
pub struct Imported {
    pub records: Vec<RawRecord>,
    /// Documents of the corpus that are nobody's gold document (e.g. other sections of a paper).
    pub extra_documents: Vec<RawDocument>,
    /// Records read from the input, before anything was dropped or merged.
    pub rows: usize,
    /// Records of a label dataset that carried no label, dropped and counted.
    pub dropped_unlabeled: usize,
}
