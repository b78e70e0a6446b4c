//! Scoring one generated answer into `scores.parquet` rows with every deterministic metric.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::abstain::abstained;
use crate::faithfulness::faithfulness;
use crate::label::label_accuracy;
use crate::lexical::{answer_recall, exact_match, rouge_l, token_f1};
use crate::{Metric, ScoreError};

/// What scoring needs to know about a question: the columns of `qa.parquet` that the metrics and
/// the judge read, kept apart from the data crate's record so that scoring's tests and the judge's
/// requests build questions without the data crate's import-time fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Question {
    /// Question id, as in `qa.parquet`.
    pub id: String,
    /// The question text (the judge sees it).
    pub question: String,
    /// Every reference answer; empty for an unanswerable question.
    pub answers: Vec<String>,
    /// `free`, `span` or `label`.
    pub answer_type: String,
    /// `yes` / `no` / `maybe` for label questions.
    pub label: Option<String>,
    /// False for questions whose correct answer is an abstention.
    pub answerable: bool,
    /// Documents that contain the answer, when known (failure attribution uses them).
    pub gold_doc_ids: Vec<String>,
}

impl Question {
    /// Unanswerable: flagged so, or nothing to compare with; then abstaining is the right answer.
    pub fn is_unanswerable(&self) -> bool {
        !self.answerable || self.answers.is_empty()
    }

    /// The gold label when this is a label question.
    pub fn gold_label(&self) -> Option<&str> {
        self.label.as_deref()
    }
}

/// One generated answer (a row of `answers.parquet`, the columns scoring reads).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// Arm name, `{dataset}/{model}/n{N}[/s{seed}][@context]`.
    pub arm: String,
    /// The question answered.
    pub question_id: String,
    /// The generated text.
    pub answer: String,
    /// Generated token count (the `answer_tokens` metric).
    pub answer_tokens: u64,
}

/// One row of `scores.parquet`.
///
/// `value` is `None` only when `error` is set (a judgment that failed after retries); such rows are
/// excluded from statistics and counted in the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreRow {
    /// Arm name.
    pub arm: String,
    /// Question id.
    pub question_id: String,
    /// Which metric.
    pub metric: Metric,
    /// The score; `None` only with `error`.
    pub value: Option<f64>,
    /// Judge repeat index (0 for deterministic metrics).
    pub repeat: u32,
    /// Judge model + prompt version; `None` for deterministic metrics.
    pub judge: Option<String>,
    /// Why there is no value.
    pub error: Option<String>,
}

impl ScoreRow {
    /// A deterministic metric's row.
    pub fn deterministic(answer: &Answer, metric: Metric, value: f64) -> Self {
        ScoreRow {
            arm: answer.arm.clone(),
            question_id: answer.question_id.clone(),
            metric,
            value: Some(value),
            repeat: 0,
            judge: None,
            error: None,
        }
    }
}

/// Every deterministic metric of one answer.
///
/// `context` is the text of the chunks the answer was generated from (`None` for a closed-book arm):
/// without it, or when the answer makes no claim (abstention, no content word), no `faithfulness`
/// row is written. `label_accuracy` is written for label questions only. For an unanswerable
/// question, `exact_match`, `token_f1`, `rouge_l` and `answer_recall` are 1 for an abstention and 0
/// otherwise.
pub fn score_answer(question: &Question, answer: &Answer, context: Option<&str>) -> Vec<ScoreRow> {
    let text = answer.answer.as_str();
    let did_abstain = abstained(text);
    let mut rows = Vec::with_capacity(8);
    let mut push = |m: Metric, v: f64| rows.push(ScoreRow::deterministic(answer, m, v));
    if question.is_unanswerable() {
        let v = f64::from(u8::from(did_abstain));
        for m in [
            Metric::ExactMatch,
            Metric::TokenF1,
            Metric::RougeL,
            Metric::AnswerRecall,
        ] {
            push(m, v);
        }
    } else {
        let refs = &question.answers;
        push(Metric::ExactMatch, exact_match(text, refs));
        push(Metric::TokenF1, token_f1(text, refs));
        push(Metric::RougeL, rouge_l(text, refs));
        push(Metric::AnswerRecall, answer_recall(text, refs));
    }
    if let Some(label) = question.gold_label() {
        push(Metric::LabelAccuracy, label_accuracy(text, label));
    }
    push(Metric::Abstained, f64::from(u8::from(did_abstain)));
    if let Some(ctx) = context {
        if !did_abstain {
            if let Some(f) = faithfulness(text, ctx) {
                push(Metric::Faithfulness, f);
            }
        }
    }
    push(Metric::AnswerTokens, answer.answer_tokens as f64);
    rows
}

/// Scores a batch of answers, checking first that every answer's question is known.
///
/// `contexts` maps question id → retrieved context text (empty map for closed-book arms).
/// An answer to an unknown question id is bad input (the arm was answered on other data).
pub fn score_answers(
    questions: &HashMap<String, Question>,
    answers: &[Answer],
    contexts: &HashMap<String, String>,
) -> Result<Vec<ScoreRow>, ScoreError> {
    if let Some(a) = answers
        .iter()
        .find(|a| !questions.contains_key(&a.question_id))
    {
        return Err(ScoreError::BadInput(format!(
            "arm {}: answer for question id `{}` which is not in the data",
            a.arm, a.question_id
        )));
    }
    let mut rows = Vec::with_capacity(answers.len() * 8);
    for a in answers {
        if let Some(q) = questions.get(&a.question_id) {
            rows.extend(score_answer(
                q,
                a,
                contexts.get(&a.question_id).map(String::as_str),
            ));
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(answers: &[&str], label: Option<&str>, answerable: bool) -> Question {
        Question {
            id: "q1".into(),
            question: "Who won?".into(),
            answers: answers.iter().map(|s| s.to_string()).collect(),
            answer_type: if label.is_some() { "label" } else { "free" }.into(),
            label: label.map(str::to_owned),
            answerable,
            gold_doc_ids: vec![],
        }
    }

    fn a(text: &str) -> Answer {
        Answer {
            arm: "d/m/n0".into(),
            question_id: "q1".into(),
            answer: text.into(),
            answer_tokens: 7,
        }
    }

    fn get(rows: &[ScoreRow], m: Metric) -> Option<f64> {
        rows.iter().find(|r| r.metric == m).and_then(|r| r.value)
    }

    #[test]
    fn answerable_free_question() {
        let rows = score_answer(
            &q(&["Denver Broncos"], None, true),
            &a("Broncos"),
            Some("the broncos won"),
        );
        assert_eq!(get(&rows, Metric::ExactMatch), Some(0.0));
        assert!((get(&rows, Metric::TokenF1).unwrap_or(0.0) - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(get(&rows, Metric::AnswerRecall), Some(0.5));
        assert_eq!(get(&rows, Metric::Abstained), Some(0.0));
        assert_eq!(get(&rows, Metric::Faithfulness), Some(1.0));
        assert_eq!(get(&rows, Metric::AnswerTokens), Some(7.0));
        assert_eq!(get(&rows, Metric::LabelAccuracy), None);
        assert!(rows
            .iter()
            .all(|r| r.error.is_none() && r.judge.is_none() && r.repeat == 0));
    }

    #[test]
    fn unanswerable_rewards_abstention_only() {
        let un = q(&[], None, false);
        let rows = score_answer(&un, &a("I don't know."), Some("ctx"));
        for m in [
            Metric::ExactMatch,
            Metric::TokenF1,
            Metric::RougeL,
            Metric::AnswerRecall,
            Metric::Abstained,
        ] {
            assert_eq!(get(&rows, m), Some(1.0), "{m}");
        }
        assert_eq!(get(&rows, Metric::Faithfulness), None);
        let rows = score_answer(&un, &a("Denver"), None);
        assert_eq!(get(&rows, Metric::ExactMatch), Some(0.0));
        assert_eq!(get(&rows, Metric::TokenF1), Some(0.0));
        // answerable=false wins even when references exist.
        let rows = score_answer(&q(&["x"], None, false), &a("x"), None);
        assert_eq!(get(&rows, Metric::ExactMatch), Some(0.0));
    }

    #[test]
    fn label_question_gets_label_accuracy() {
        let rows = score_answer(&q(&["Yes, it does."], Some("yes"), true), &a("Yes."), None);
        assert_eq!(get(&rows, Metric::LabelAccuracy), Some(1.0));
        assert_eq!(get(&rows, Metric::Faithfulness), None);
    }

    #[test]
    fn unknown_question_is_bad_input() {
        let qs: HashMap<_, _> = [("q1".to_string(), q(&["x"], None, true))].into();
        let mut other = a("x");
        other.question_id = "q9".into();
        let err = score_answers(&qs, &[a("x"), other], &HashMap::new()).err();
        assert!(err
            .map(|e| e.is_bad_input() && e.to_string().contains("q9"))
            .unwrap_or(false));
        let ok = score_answers(&qs, &[a("x")], &HashMap::new())
            .map(|r| r.len())
            .ok();
        assert_eq!(ok, Some(6));
    }
}
