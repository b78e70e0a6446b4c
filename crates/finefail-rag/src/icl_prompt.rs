//! The prompt of the in-context baseline (issue 25, `icl{K}` arms, `eval.icl_shots`): the
//! base model answers with K demonstrations in the conversation instead of an adapter, so a
//! fine-tune at N can be compared with simply showing examples.
//!
//! * Which demonstrations: the first K questions of the seed's training order
//!   ([`Splits::train_subset`]), so they are a subset of every N ≥ K training set of that seed.
//! * Each demonstration is a user turn formatted exactly as an evaluation question
//!   ([`rag_messages`]'s user turn, with the demonstration's chunks when the training format uses
//!   context) and an assistant turn holding the training target. The target is the training
//!   crate's (`finefail_train::examples::target_answer`), which this crate cannot call (the train
//!   crate depends on this one): callers pass it in ([`demonstrations`]).
//! * The conversation: the evaluation's system line, the K demonstration pairs, then the real
//!   question as evaluation builds it ([`fitted_messages`]), its chunks fitted in the room the
//!   demonstrations leave. Demonstrations are never trimmed or dropped: when they and the bare
//!   question do not fit the budget, [`icl_messages`] is bad input naming K, the dataset and the
//!   tokens needed and available.

use crate::error::{RagError, Result};
use crate::rag_prompt::{fitted_messages, rag_messages, AnswerForm};
use finefail_core::files;
use finefail_data::tables::{read_qa, read_ranked_chunk_texts};
use finefail_data::{AnswerType, QaRecord, Splits};
use finefail_model::chat::ChatMessage;
use std::collections::HashMap;
use std::path::Path;

/// One demonstration, ready to be rendered as a user/assistant pair: kept apart from [`QaRecord`]
/// so the answer is the training target and the chunks are the ones training would show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Demonstration {
    /// Question id (a training-pool id of the dataset).
    pub id: String,
    /// The question text, untrimmed.
    pub question: String,
    /// The question's answer type (decides nothing in the user turn; kept for the record).
    pub answer_type: AnswerType,
    /// The context shown with the question (empty = closed book, as the `qa` format trains).
    pub chunks: Vec<String>,
    /// The assistant turn: the training target of the question.
    pub answer: String,
}

/// The first `k` records of `seed`'s training order of the prepared dataset `data_dir`, in that
/// order: exactly what a fine-tune of size `k` and seed `seed` trains on, so the demonstrations of
/// an `icl{K}` arm are a subset of every N ≥ K training set. `k` larger than the pool is bad input.
pub fn demonstration_records(data_dir: &Path, k: usize, seed: u64) -> Result<Vec<QaRecord>> {
    let splits = Splits::load(&data_dir.join(files::SPLITS))?;
    let ids = splits.train_subset(seed, k)?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut records: HashMap<String, QaRecord> = read_qa(&data_dir.join(files::QA))?
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect();
    ids.into_iter()
        .map(|id| {
            records.remove(&id).ok_or_else(|| {
                RagError::bad_input(format!(
                    "{}: splits.json names `{id}`, which is not in qa.parquet",
                    data_dir.display()
                ))
            })
        })
        .collect()
}

/// The `k` demonstrations of `seed` ([`demonstration_records`]) with their answers from `target`
/// (pass the training crate's `target_answer`, its error as text: the same target a fine-tune
/// learns) and, with `retrieval = Some((dir, top_k))`, each question's top-k retrieved chunks as
/// `rag` training reads them (`None`: no context, as the `qa` format trains). A `target` error or
/// a demonstration without retrieval is bad input.
pub fn demonstrations(
    data_dir: &Path,
    k: usize,
    seed: u64,
    retrieval: Option<(&Path, usize)>,
    target: &dyn Fn(&QaRecord) -> std::result::Result<String, String>,
) -> Result<Vec<Demonstration>> {
    let records = demonstration_records(data_dir, k, seed)?;
    let contexts = match retrieval {
        Some((dir, top_k)) if !records.is_empty() => {
            Some((dir, read_ranked_chunk_texts(data_dir, dir, top_k)?))
        }
        _ => None,
    };
    records
        .into_iter()
        .map(|rec| {
            let chunks = match &contexts {
                None => Vec::new(),
                Some((dir, map)) => map.get(&rec.id).cloned().ok_or_else(|| {
                    RagError::bad_input(format!(
                        "{}: no retrieval for demonstration question `{}`; was it computed for this dataset?",
                        dir.display(),
                        rec.id
                    ))
                })?,
            };
            let answer = target(&rec).map_err(RagError::bad_input)?;
            Ok(Demonstration {
                id: rec.id,
                question: rec.question,
                answer_type: rec.answer_type,
                chunks,
                answer,
            })
        })
        .collect()
}

/// The user/assistant turns of `demos`, in order: each user turn is what the evaluation's user turn
/// of that question with those chunks is ([`rag_messages`]), so a demonstration looks exactly like
/// the question the model then answers.
pub fn demonstration_turns(demos: &[Demonstration]) -> Vec<ChatMessage> {
    demos
        .iter()
        .flat_map(|d| {
            // Only the user turn is kept, and the answer form decides only the system line.
            let mut m = rag_messages(&d.question, &d.chunks, AnswerForm::Text);
            let user = m.pop().expect("rag_messages ends with the user turn");
            [user, ChatMessage::new("assistant", d.answer.clone())]
        })
        .collect()
}

/// `messages` (the evaluation's `[system, user]`) with `turns` between the system line and the
/// user turn.
fn with_turns(messages: &[ChatMessage], turns: &[ChatMessage]) -> Vec<ChatMessage> {
    let (first, rest) = messages.split_first().expect("a system line");
    let mut out = Vec::with_capacity(messages.len() + turns.len());
    out.push(first.clone());
    out.extend_from_slice(turns);
    out.extend_from_slice(rest);
    out
}

/// The conversation of an `icl{K}` arm for one question: the evaluation's system line, the
/// demonstration turns ([`demonstration_turns`]), then the question's user turn with `chunks`
/// fitted by the evaluation's own function ([`fitted_messages`]) to what `budget` tokens leave
/// after the demonstrations. `budget` is the evaluation's (the model's window less the answer
/// room, as `answering::answer_test_set` computes it) and `count` its token counter.
///
/// Demonstrations are never trimmed or dropped: when the system line, the demonstrations and the
/// bare question already exceed `budget`, this is bad input naming K, `dataset` and the tokens
/// needed and available (lower `eval.icl_shots`, or use a model with a longer window).
pub fn icl_messages(
    dataset: &str,
    demos: &[Demonstration],
    question: &str,
    form: AnswerForm,
    chunks: &[String],
    budget: usize,
    count: &dyn Fn(&[ChatMessage]) -> usize,
) -> Result<Vec<ChatMessage>> {
    let turns = demonstration_turns(demos);
    let bare = with_turns(&rag_messages(question, &[], form), &turns);
    let needed = count(&bare);
    if needed > budget {
        let needed = if needed == usize::MAX {
            "more tokens than can be counted (the prompt did not render)".to_string()
        } else {
            format!("{needed} tokens")
        };
        return Err(RagError::bad_input(format!(
            "eval.icl_shots = {k}: the {k} demonstrations of dataset `{dataset}` do not fit the \
             prompt: the system line, the demonstrations and the bare question need {needed}, the \
             prompt budget is {budget} tokens (the model's window less the answer room); lower \
             eval.icl_shots or use a model with a longer context window",
            k = demos.len()
        )));
    }
    let count_all = |m: &[ChatMessage]| count(&with_turns(m, &turns));
    let fitted = fitted_messages(question, form, chunks, budget, &count_all);
    Ok(with_turns(&fitted, &turns))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo(i: usize, chunks: Vec<String>) -> Demonstration {
        Demonstration {
            id: format!("d{i}"),
            question: format!("demo question {i}?"),
            answer_type: AnswerType::Free,
            chunks,
            answer: format!("answer {i}"),
        }
    }

    fn chars(m: &[ChatMessage]) -> usize {
        m.iter().map(|x| x.content.chars().count()).sum()
    }

    #[test]
    fn system_then_demonstration_pairs_then_the_question() {
        let demos = vec![demo(0, vec!["ctx zero".into()]), demo(1, vec![])];
        let chunks = vec!["alpha".to_string(), "beta".to_string()];
        let m = icl_messages(
            "t",
            &demos,
            "Who?",
            AnswerForm::Text,
            &chunks,
            10_000,
            &chars,
        )
        .unwrap();
        let roles: Vec<&str> = m.iter().map(|x| x.role.as_str()).collect();
        assert_eq!(
            roles,
            ["system", "user", "assistant", "user", "assistant", "user"]
        );
        let eval = rag_messages("Who?", &chunks, AnswerForm::Text);
        assert_eq!(m[0], eval[0]);
        assert_eq!(m[5], eval[1]);
        assert_eq!(
            m[1],
            rag_messages("demo question 0?", &demos[0].chunks, AnswerForm::Text)[1]
        );
        assert_eq!(m[2].content, "answer 0");
        assert_eq!(m[3].content, "demo question 1?");
        assert_eq!(m[4].content, "answer 1");
        // No demonstrations: exactly the evaluation's prompt.
        let zero =
            icl_messages("t", &[], "Who?", AnswerForm::Text, &chunks, 10_000, &chars).unwrap();
        assert_eq!(zero, eval);
    }

    #[test]
    fn the_question_s_chunks_are_fitted_around_whole_demonstrations() {
        let demos = vec![demo(0, vec!["d".repeat(100)])];
        let chunks = vec!["a".repeat(200), "b".repeat(200)];
        let turns = demonstration_turns(&demos);
        let whole = chars(&with_turns(
            &rag_messages("Q?", &chunks, AnswerForm::Text),
            &turns,
        ));
        let budget = whole - 150;
        let m = icl_messages("t", &demos, "Q?", AnswerForm::Text, &chunks, budget, &chars).unwrap();
        assert!(chars(&m) <= budget);
        assert_eq!(m[1].content, turns[0].content, "the demonstration is whole");
        assert!(m[3].content.contains(&"a".repeat(200)));
        assert!(!m[3].content.contains(&"b".repeat(200)));
        assert!(m[3].content.ends_with("Question: Q?"));
    }

    #[test]
    fn demonstrations_that_do_not_fit_are_bad_input_naming_k_and_the_dataset() {
        let demos: Vec<Demonstration> = (0..3).map(|i| demo(i, vec!["x".repeat(50)])).collect();
        let bare = chars(&with_turns(
            &rag_messages("Q?", &[], AnswerForm::Text),
            &demonstration_turns(&demos),
        ));
        let err = icl_messages(
            "pubmedqa",
            &demos,
            "Q?",
            AnswerForm::Text,
            &[],
            bare - 1,
            &chars,
        )
        .unwrap_err();
        assert!(err.is_bad_input());
        let text = err.to_string();
        for part in [
            "eval.icl_shots = 3",
            "`pubmedqa`",
            &format!("need {bare} tokens"),
            &format!("budget is {} tokens", bare - 1),
        ] {
            assert!(text.contains(part), "{part:?} not in {text}");
        }
        // Exactly at the budget it fits.
        assert!(icl_messages(
            "pubmedqa",
            &demos,
            "Q?",
            AnswerForm::Text,
            &[],
            bare,
            &chars
        )
        .is_ok());
    }
}
