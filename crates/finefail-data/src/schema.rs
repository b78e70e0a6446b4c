//! The canonical QA record and document: what every importer produces and every later step reads.

use serde::{Deserialize, Serialize};

/// How a question is answered, which decides the metrics that apply to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum AnswerType {
    /// Free-form text (NarrativeQA, BioASQ ideal answers, Qasper free-form).
    Free,
    /// A span of the passage (SQuAD, Disfl-QA, NQ short answers).
    Span,
    /// One of yes / no / maybe (PubMedQA, BoolQ, BioASQ yes/no).
    Label,
}

impl AnswerType {
    /// The name stored in `qa.parquet`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Free => "free",
            Self::Span => "span",
            Self::Label => "label",
        }
    }

    /// Parses the name stored in `qa.parquet`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "free" => Some(Self::Free),
            "span" => Some(Self::Span),
            "label" => Some(Self::Label),
            _ => None,
        }
    }
}

/// The answer of a label question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Label {
    Yes,
    No,
    Maybe,
}

impl Label {
    /// The word stored in `qa.parquet` (and the reference answer of a label question).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Yes => "yes",
            Self::No => "no",
            Self::Maybe => "maybe",
        }
    }

    /// Parses yes/no/maybe and the boolean spellings sources use (true/false), case-insensitively.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "yes" | "true" => Some(Self::Yes),
            "no" | "false" => Some(Self::No),
            "maybe" => Some(Self::Maybe),
            _ => None,
        }
    }
}

/// The labels a label dataset answers with: yes and no always, maybe only when one of the
/// dataset's questions is answered maybe (PubMedQA uses it, BoolQ never does). The prompt names
/// exactly these, so a yes/no dataset is not offered an answer that can never be right.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LabelSet {
    /// yes / no (BoolQ, BioASQ yes/no).
    YesNo,
    /// yes / no / maybe (PubMedQA).
    YesNoMaybe,
}

impl LabelSet {
    /// The label set of a dataset from all of its questions (every split, so the set does not
    /// depend on which questions a split or a training size happens to draw).
    pub fn of<'a>(records: impl IntoIterator<Item = &'a QaRecord>) -> Self {
        if records.into_iter().any(|r| r.label == Some(Label::Maybe)) {
            Self::YesNoMaybe
        } else {
            Self::YesNo
        }
    }

    /// The labels, in the order prompts name them.
    pub fn labels(self) -> &'static [Label] {
        match self {
            Self::YesNo => &[Label::Yes, Label::No],
            Self::YesNoMaybe => &[Label::Yes, Label::No, Label::Maybe],
        }
    }

    /// The labels as a prompt names them: `yes or no`, `yes, no or maybe`.
    pub fn phrase(self) -> String {
        let words: Vec<&str> = self.labels().iter().map(|l| l.as_str()).collect();
        match words.split_last() {
            Some((last, [])) => (*last).to_string(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        }
    }
}

/// The constant answer of an unanswerable question: the training target of unanswerable
/// examples, what the system line asks for, and what the `abstained` metric recognises.
pub const ABSTENTION: &str = "I don't know.";

/// One question of `qa.parquet`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QaRecord {
    /// Stable id: the source's own when unique, else `{dataset}:{path}:{line}`.
    pub id: String,
    /// The dataset name (the `--name` of `data prepare`).
    pub dataset: String,
    pub question: String,
    /// Every reference answer; empty for an unanswerable question.
    pub answers: Vec<String>,
    pub answer_type: AnswerType,
    /// Set only for label questions.
    pub label: Option<Label>,
    pub answerable: bool,
    /// Documents that hold the answer, when the source says (may be empty).
    pub gold_doc_ids: Vec<String>,
    /// The source's split or file the record came from (e.g. `pqal/test`).
    pub source_split: String,
}

/// One document of `corpus.parquet` (deduplicated by content).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    pub doc_id: String,
    pub title: String,
    pub text: String,
}

/// One chunk of `chunks.parquet`: `text` is `document.text[start..end]` in characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    /// `{doc_id}#{n}`, n counting from 0 within the document.
    pub chunk_id: String,
    pub doc_id: String,
    /// Character (not byte) offsets into the document text, end exclusive.
    pub start: u64,
    pub end: u64,
    pub text: String,
}

/// One row of `answers.parquet`: an arm's answer to one test question. Written by answering,
/// read by scoring and the report; the schema lives here, beside the other canonical tables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerRecord {
    /// `{dataset}/{model}/n{N}[/s{seed}][@context]`.
    pub arm: String,
    pub question_id: String,
    /// `retrieved`, `none` or `gold`: what the answer was given.
    pub context: String,
    pub answer: String,
    pub prompt_tokens: u64,
    pub answer_tokens: u64,
    /// Wall time of the question's batch divided by the batch size.
    pub ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labelled(label: Label) -> QaRecord {
        QaRecord {
            id: label.as_str().into(),
            dataset: "d".into(),
            question: "q?".into(),
            answers: vec![label.as_str().into()],
            answer_type: AnswerType::Label,
            label: Some(label),
            answerable: true,
            gold_doc_ids: Vec::new(),
            source_split: "test".into(),
        }
    }

    #[test]
    fn maybe_is_offered_only_when_the_dataset_uses_it() {
        let yes_no = [labelled(Label::Yes), labelled(Label::No)];
        assert_eq!(LabelSet::of(&yes_no), LabelSet::YesNo);
        assert_eq!(LabelSet::of(&yes_no).phrase(), "yes or no");
        let all = [labelled(Label::No), labelled(Label::Maybe)];
        assert_eq!(LabelSet::of(&all), LabelSet::YesNoMaybe);
        assert_eq!(LabelSet::of(&all).phrase(), "yes, no or maybe");
        assert_eq!(LabelSet::of(&[]), LabelSet::YesNo);
    }
}
