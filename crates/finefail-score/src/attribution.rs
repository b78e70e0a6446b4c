//! Failure attribution: for a question the fine-tuned arm lost against the base arm, the most
//! likely reason, checked in this order (the first that applies wins):
//!
//! 1. `retrieval_miss` — gold documents are known and none of them was retrieved: the generator
//!    never saw the answer (retrieval is shared by all arms, so this flags questions where the
//!    fine-tuned model lost what the base model could guess or knew).
//! 2. `context_ignored` — the fine-tuned answer is not supported by the retrieved chunks: its
//!    faithfulness is below [`FAITHFULNESS_THRESHOLD`] (abstentions are never "context ignored").
//! 3. `format_drift` — the answer's form changed: its token count differs from the base answer's by
//!    more than [`LENGTH_RATIO`]× either way, or, for a label question, the base answer had a
//!    yes/no/maybe word and the fine-tuned one has none. (A *different* label word is a wrong answer,
//!    not a format change, so it falls through to `other`.)
//! 4. `other`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::label::first_label;

/// Below this share of content words found in the retrieved context, an answer counts as not
/// supported by it (half its content words come from elsewhere).
pub const FAITHFULNESS_THRESHOLD: f64 = 0.5;

/// An answer more than this many times longer or shorter than the base answer has drifted in form.
pub const LENGTH_RATIO: f64 = 2.0;

/// Why the fine-tuned arm lost a question (see the module doc for the rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureCause {
    /// Gold documents known, none retrieved.
    RetrievalMiss,
    /// Answer not supported by the retrieved chunks.
    ContextIgnored,
    /// Length changed by more than 2×, or the label word disappeared.
    FormatDrift,
    /// None of the above.
    Other,
}

impl FailureCause {
    /// The snake_case name used in tables.
    pub fn name(self) -> &'static str {
        match self {
            FailureCause::RetrievalMiss => "retrieval_miss",
            FailureCause::ContextIgnored => "context_ignored",
            FailureCause::FormatDrift => "format_drift",
            FailureCause::Other => "other",
        }
    }
}

impl fmt::Display for FailureCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What attribution looks at for one lost question.
#[derive(Debug, Clone, Copy)]
pub struct AttributionInput<'a> {
    /// Gold document ids of the question (empty: unknown).
    pub gold_doc_ids: &'a [String],
    /// Document ids of the retrieved chunks; `None` for closed-book (`@none`) arms.
    pub retrieved_doc_ids: Option<&'a [String]>,
    /// The base arm's answer.
    pub base_answer: &'a str,
    /// The fine-tuned arm's answer.
    pub ft_answer: &'a str,
    /// Base answer length in generated tokens.
    pub base_tokens: u64,
    /// Fine-tuned answer length in generated tokens.
    pub ft_tokens: u64,
    /// The fine-tuned answer's faithfulness (`None`: no claim, e.g. an abstention).
    pub ft_faithfulness: Option<f64>,
    /// True for label (yes/no/maybe) questions.
    pub label_question: bool,
}

/// The document id of a chunk id `{doc_id}#{n}`.
pub fn chunk_doc_id(chunk_id: &str) -> &str {
    chunk_id.rsplit_once('#').map_or(chunk_id, |(d, _)| d)
}

/// The cause of one loss, by the ordered rules of the module doc.
pub fn attribute(input: &AttributionInput<'_>) -> FailureCause {
    if let Some(retrieved) = input.retrieved_doc_ids {
        if !input.gold_doc_ids.is_empty()
            && !input.gold_doc_ids.iter().any(|g| retrieved.contains(g))
        {
            return FailureCause::RetrievalMiss;
        }
        if input
            .ft_faithfulness
            .is_some_and(|f| f < FAITHFULNESS_THRESHOLD)
        {
            return FailureCause::ContextIgnored;
        }
    }
    let (b, f) = (input.base_tokens as f64, input.ft_tokens as f64);
    let length_drift = f > LENGTH_RATIO * b.max(1.0) || b > LENGTH_RATIO * f.max(1.0);
    let label_lost = input.label_question
        && first_label(input.base_answer).is_some()
        && first_label(input.ft_answer).is_none();
    if length_drift || label_lost {
        FailureCause::FormatDrift
    } else {
        FailureCause::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn input<'a>(gold: &'a [String], retrieved: Option<&'a [String]>) -> AttributionInput<'a> {
        AttributionInput {
            gold_doc_ids: gold,
            retrieved_doc_ids: retrieved,
            base_answer: "Yes, it helps.",
            ft_answer: "No, it does not.",
            base_tokens: 10,
            ft_tokens: 12,
            ft_faithfulness: Some(0.8),
            label_question: true,
        }
    }

    #[test]
    fn rules_in_order() {
        let gold = ids(&["d1"]);
        let miss = ids(&["d2", "d3"]);
        let hit = ids(&["d3", "d1"]);
        assert_eq!(
            attribute(&input(&gold, Some(&miss))),
            FailureCause::RetrievalMiss
        );
        // Gold retrieved, well supported, same length, label changed (not lost): other.
        assert_eq!(attribute(&input(&gold, Some(&hit))), FailureCause::Other);
        let mut i = input(&gold, Some(&hit));
        i.ft_faithfulness = Some(0.49);
        assert_eq!(attribute(&i), FailureCause::ContextIgnored);
        i.ft_faithfulness = None;
        assert_eq!(attribute(&i), FailureCause::Other);
        i.ft_tokens = 21; // > 2 × 10
        assert_eq!(attribute(&i), FailureCause::FormatDrift);
        i.ft_tokens = 5; // exactly half: not drift
        assert_eq!(attribute(&i), FailureCause::Other);
        i.ft_tokens = 4;
        assert_eq!(attribute(&i), FailureCause::FormatDrift);
        i.ft_tokens = 10;
        i.ft_answer = "The trial was small.";
        assert_eq!(attribute(&i), FailureCause::FormatDrift);
    }

    #[test]
    fn closed_book_and_unknown_gold_skip_retrieval_rules() {
        let none: [String; 0] = [];
        let gold = ids(&["d1"]);
        let mut i = input(&gold, None);
        i.ft_faithfulness = Some(0.0);
        assert_eq!(attribute(&i), FailureCause::Other);
        let retrieved = ids(&["d9"]);
        let mut j = input(&none, Some(&retrieved));
        j.ft_faithfulness = Some(0.9);
        assert_eq!(attribute(&j), FailureCause::Other);
    }

    #[test]
    fn chunk_ids_map_to_documents() {
        assert_eq!(chunk_doc_id("pubmedqa:123#4"), "pubmedqa:123");
        assert_eq!(chunk_doc_id("a#b#0"), "a#b");
        assert_eq!(chunk_doc_id("plain"), "plain");
    }
}
