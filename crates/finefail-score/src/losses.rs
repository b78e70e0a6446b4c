//! Failure attribution over a whole run: every question a fine-tuned arm lost against its base arm
//! on one metric, with its [`FailureCause`].

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::attribution::{attribute, AttributionInput, FailureCause};
use crate::stats::describe::mean;
use crate::{Answer, Metric, Question, ScoreError, ScoreRow};
use finefail_core::{AnswerContext, ArmId};

/// One lost question of one fine-tuned arm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Loss {
    /// The fine-tuned arm.
    pub arm: String,
    /// Its base arm.
    pub base_arm: String,
    /// The question lost.
    pub question_id: String,
    /// The metric on which it was lost.
    pub metric: Metric,
    /// Base score (mean over judge repeats).
    pub base: f64,
    /// Fine-tuned score (mean over judge repeats).
    pub ft: f64,
    /// The attributed cause.
    pub cause: FailureCause,
}

/// Every question where a fine-tuned arm scored below its base arm on `metric`, attributed.
///
/// `retrieved_docs` maps question id → document ids of the retrieved chunks (see
/// [`crate::chunk_doc_id`]); it is ignored for closed-book (`@none`) arms and for gold-context
/// (`@gold`) arms, whose context is the gold documents, and `None` when no retrieval was given. Error rows are ignored; questions without a value on either side are
/// skipped. An answer or score of an unknown question is bad input.
pub fn attribute_losses(
    rows: &[ScoreRow],
    metric: Metric,
    questions: &HashMap<String, Question>,
    answers: &[Answer],
    retrieved_docs: Option<&HashMap<String, Vec<String>>>,
) -> Result<Vec<Loss>, ScoreError> {
    // (arm, question) -> values of `metric`, and of faithfulness.
    let mut values: HashMap<(&str, &str), Vec<f64>> = HashMap::new();
    let mut faith: HashMap<(&str, &str), f64> = HashMap::new();
    for r in rows {
        let Some(v) = r.value.filter(|_| r.error.is_none()) else {
            continue;
        };
        let key = (r.arm.as_str(), r.question_id.as_str());
        if r.metric == metric {
            values.entry(key).or_default().push(v);
        }
        if r.metric == Metric::Faithfulness {
            faith.insert(key, v);
        }
    }
    let by_key: HashMap<(&str, &str), &Answer> = answers
        .iter()
        .map(|a| ((a.arm.as_str(), a.question_id.as_str()), a))
        .collect();

    let mut losses = Vec::new();
    for a in answers {
        let arm: ArmId = a.arm.parse()?;
        if !arm.is_fine_tuned() {
            continue;
        }
        let base_arm = arm.base().to_string();
        let q = questions.get(&a.question_id).ok_or_else(|| {
            ScoreError::BadInput(format!(
                "arm {}: answer for question id `{}` which is not in the data",
                a.arm, a.question_id
            ))
        })?;
        let qid = a.question_id.as_str();
        let (Some(ft), Some(base), Some(base_answer)) = (
            values.get(&(a.arm.as_str(), qid)).and_then(|v| mean(v)),
            values.get(&(base_arm.as_str(), qid)).and_then(|v| mean(v)),
            by_key.get(&(base_arm.as_str(), qid)),
        ) else {
            continue;
        };
        if ft >= base {
            continue;
        }
        // A gold-context arm was given the gold documents: its losses are never retrieval's.
        let retrieved = match (arm.context, retrieved_docs) {
            (AnswerContext::None, _) | (_, None) => None,
            (AnswerContext::Gold, _) => Some(q.gold_doc_ids.as_slice()),
            (_, Some(m)) => Some(m.get(qid).map(Vec::as_slice).unwrap_or(&[])),
        };
        let cause = attribute(&AttributionInput {
            gold_doc_ids: &q.gold_doc_ids,
            retrieved_doc_ids: retrieved,
            base_answer: &base_answer.answer,
            ft_answer: &a.answer,
            base_tokens: base_answer.answer_tokens,
            ft_tokens: a.answer_tokens,
            ft_faithfulness: faith.get(&(a.arm.as_str(), qid)).copied(),
            label_question: q.label.is_some(),
        });
        losses.push(Loss {
            arm: a.arm.clone(),
            base_arm,
            question_id: a.question_id.clone(),
            metric,
            base,
            ft,
            cause,
        });
    }
    Ok(losses)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score_answers;

    #[test]
    fn finds_and_attributes_losses() -> Result<(), ScoreError> {
        let q = |id: &str, gold: &str| Question {
            id: id.into(),
            question: "Who?".into(),
            answers: vec!["Denver Broncos".into()],
            answer_type: "free".into(),
            label: None,
            answerable: true,
            gold_doc_ids: vec![gold.into()],
        };
        let questions: HashMap<String, Question> = [
            ("q1".into(), q("q1", "d1")),
            ("q2".into(), q("q2", "d2")),
            ("q3".into(), q("q3", "d3")),
        ]
        .into();
        let ans = |arm: &str, id: &str, text: &str, tokens: u64| Answer {
            arm: arm.into(),
            question_id: id.into(),
            answer: text.into(),
            answer_tokens: tokens,
        };
        let answers = vec![
            ans("d/m/n0", "q1", "Denver Broncos", 3),
            ans("d/m/n0", "q2", "Denver Broncos", 3),
            ans("d/m/n0", "q3", "Denver", 2),
            ans("d/m/n10/s0", "q1", "Carolina Panthers", 3), // lost; gold d1 not retrieved
            ans("d/m/n10/s0", "q2", "Carolina Panthers", 3), // lost; gold retrieved, unsupported
            ans("d/m/n10/s0", "q3", "Denver Broncos", 3),    // won
        ];
        let contexts: HashMap<String, String> = ["q1", "q2", "q3"]
            .iter()
            .map(|id| {
                (
                    id.to_string(),
                    "The Denver Broncos won the game.".to_string(),
                )
            })
            .collect();
        let rows = score_answers(&questions, &answers, &contexts)?;
        let retrieved: HashMap<String, Vec<String>> = [
            ("q1".to_string(), vec!["d9".to_string()]),
            ("q2".to_string(), vec!["d2".to_string()]),
            ("q3".to_string(), vec!["d3".to_string()]),
        ]
        .into();
        let losses = attribute_losses(
            &rows,
            Metric::TokenF1,
            &questions,
            &answers,
            Some(&retrieved),
        )?;
        let got: Vec<(&str, FailureCause)> = losses
            .iter()
            .map(|l| (l.question_id.as_str(), l.cause))
            .collect();
        assert_eq!(
            got,
            vec![
                ("q1", FailureCause::RetrievalMiss),
                ("q2", FailureCause::ContextIgnored)
            ]
        );
        assert_eq!(losses[0].base_arm, "d/m/n0");
        assert_eq!((losses[0].base, losses[0].ft), (1.0, 0.0));
        // The same losses in a gold-context arm are never blamed on retrieval.
        let gold_answers: Vec<Answer> = answers
            .iter()
            .map(|a| Answer {
                arm: format!("{}@gold", a.arm),
                ..a.clone()
            })
            .collect();
        let gold_rows = score_answers(&questions, &gold_answers, &contexts)?;
        let losses = attribute_losses(
            &gold_rows,
            Metric::TokenF1,
            &questions,
            &gold_answers,
            Some(&retrieved),
        )?;
        assert_eq!(losses.len(), 2);
        assert!(losses
            .iter()
            .all(|l| l.cause != FailureCause::RetrievalMiss && l.base_arm == "d/m/n0@gold"));
        // Without retrieval only format rules apply.
        let losses = attribute_losses(&rows, Metric::TokenF1, &questions, &answers, None)?;
        assert!(losses.iter().all(|l| l.cause == FailureCause::Other));
        Ok(())
    }
}
