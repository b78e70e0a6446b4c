//! The dataset builder: turns an import into the canonical questions and corpus — ids assigned,
//! documents deduplicated by content, duplicate questions merged, every drop counted.

use crate::error::{DataError, Result};
use crate::importers::{Imported, RawDocument};
use crate::normalize::normalize;
use crate::schema::{Document, QaRecord};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};

/// What was dropped or merged on the way in (the `dropped` object of `data stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dropped {
    /// Questions merged into an earlier one with the same normalised question and passage.
    pub duplicates: usize,
    /// Rows of a label dataset without a label.
    pub unlabeled: usize,
}

/// The canonical tables of one dataset, before chunking and splitting.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub questions: Vec<QaRecord>,
    pub documents: Vec<Document>,
    /// Records read from the input.
    pub rows: usize,
    pub dropped: Dropped,
}

/// Builds the dataset named `name` from an import.
pub fn build(name: &str, imported: Imported) -> Result<Dataset> {
    let Imported {
        records,
        extra_documents,
        rows,
        dropped_unlabeled,
    } = imported;
    let mut corpus = Corpus::new(name);
    for doc in &extra_documents {
        corpus.add(doc);
    }
    // Documents given with text first, so text-less references (BioASQ, generic doc_id) resolve.
    for rec in &records {
        for doc in rec
            .gold_documents
            .iter()
            .filter(|d| !d.text.trim().is_empty())
        {
            corpus.add(doc);
        }
    }

    let mut seen_ids: HashMap<String, String> = HashMap::new();
    let mut questions: Vec<QaRecord> = Vec::new();
    let mut by_key: HashMap<(String, Vec<String>), usize> = HashMap::new();
    let mut dropped = Dropped {
        duplicates: 0,
        unlabeled: dropped_unlabeled,
    };
    for rec in records {
        let loc = &rec.locator;
        if rec.question.trim().is_empty() {
            return Err(DataError::bad_record(
                &loc.file,
                loc.describe(),
                "empty question",
            ));
        }
        if rec.answerable && rec.answers.iter().all(|a| a.trim().is_empty()) {
            return Err(DataError::bad_record(
                &loc.file,
                loc.describe(),
                "empty answer for an answerable question",
            ));
        }
        let id = match &rec.source_id {
            Some(id) => {
                if let Some(first) = seen_ids.get(id) {
                    return Err(DataError::bad_record(
                        &loc.file,
                        loc.describe(),
                        format!("duplicate id `{id}` (first seen at {first}); ids must be unique"),
                    ));
                }
                seen_ids.insert(id.clone(), loc.describe());
                id.clone()
            }
            None => format!("{name}:{}:{}", loc.relative, loc.line),
        };
        let mut gold = Vec::new();
        for doc in &rec.gold_documents {
            let doc_id = corpus.resolve(doc).ok_or_else(|| {
                DataError::bad_record(
                    &loc.file,
                    loc.describe(),
                    format!(
                        "gold document `{}` has no text anywhere in the input",
                        doc.source_id.as_deref().unwrap_or("?")
                    ),
                )
            })?;
            if !gold.contains(&doc_id) {
                gold.push(doc_id);
            }
        }
        let mut key_docs = gold.clone();
        key_docs.sort();
        let key = (normalize(&rec.question), key_docs);
        if let Some(&first) = by_key.get(&key) {
            let merged: &mut QaRecord = &mut questions[first];
            for a in rec.answers {
                if !merged.answers.contains(&a) {
                    merged.answers.push(a);
                }
            }
            merged.answerable = !merged.answers.is_empty();
            dropped.duplicates += 1;
            continue;
        }
        by_key.insert(key, questions.len());
        questions.push(QaRecord {
            id,
            dataset: name.to_string(),
            question: rec.question,
            answers: rec.answers,
            answer_type: rec.answer_type,
            label: rec.label,
            answerable: rec.answerable,
            gold_doc_ids: gold,
            source_split: rec.source_split,
        });
    }
    if questions.is_empty() {
        return Err(DataError::bad_input(
            "<input>",
            format!(
                "no questions found ({rows} records read, {} without a label)",
                dropped.unlabeled
            ),
        ));
    }
    Ok(Dataset {
        questions,
        documents: corpus.documents,
        rows,
        dropped,
    })
}

/// Documents deduplicated by content hash; a source id maps to the first document it named.
struct Corpus {
    dataset: String,
    documents: Vec<Document>,
    by_hash: HashMap<String, usize>,
    by_source: BTreeMap<String, usize>,
}

impl Corpus {
    fn new(dataset: &str) -> Self {
        Self {
            dataset: dataset.to_string(),
            documents: Vec::new(),
            by_hash: HashMap::new(),
            by_source: BTreeMap::new(),
        }
    }

    fn add(&mut self, doc: &RawDocument) {
        if doc.text.trim().is_empty() {
            return;
        }
        let hash = content_hash(&doc.text);
        let index = match self.by_hash.get(&hash) {
            Some(&i) => i,
            None => {
                let doc_id = match &doc.source_id {
                    Some(id) if !self.by_source.contains_key(id) => id.clone(),
                    _ => format!("{}:doc:{}", self.dataset, &hash[..12]),
                };
                self.documents.push(Document {
                    doc_id,
                    title: doc.title.clone(),
                    text: doc.text.clone(),
                });
                self.by_hash.insert(hash, self.documents.len() - 1);
                self.documents.len() - 1
            }
        };
        if let Some(id) = &doc.source_id {
            self.by_source.entry(id.clone()).or_insert(index);
        }
    }

    /// The doc id of a (possibly text-less) document reference.
    fn resolve(&self, doc: &RawDocument) -> Option<String> {
        let index = if doc.text.trim().is_empty() {
            *self.by_source.get(doc.source_id.as_ref()?)?
        } else {
            *self.by_hash.get(&content_hash(&doc.text))?
        };
        Some(self.documents[index].doc_id.clone())
    }
}

/// sha256 of a document's text (trimmed), hex.
pub fn content_hash(text: &str) -> String {
    hex::encode(Sha256::digest(text.trim().as_bytes()))
}
