//! Label questions scored by log-likelihood while an arm answers (issue 25): for each label
//! question of a batch, the very messages the arm generates from (RAG prompt, or whatever prompt
//! the arm uses) are run once through the arm's model as loaded (adapter merged), and every label
//! of the dataset's label set is scored as the start of the assistant's reply
//! ([`finefail_model::continuations`]: the prompt once, each label from its KV cache).
//!
//! Spelling rule: a label's probability is the sum of its lowercase and capitalised spellings'
//! (`yes` + `Yes`, a log-sum-exp of the two continuations' log-probabilities), since a chat model
//! starts a sentence capitalised while the prompt names the labels lowercase; neither spelling is
//! the "right" one, and their sum is the model's belief in the label whatever its case. The
//! length-normalised score divides by the label word's length in characters (lm-eval's
//! `acc_norm`; both spellings have the same length).
//!
//! Resumable and atomic like the answers: batch `b`'s rows are one part file
//! (`parts/label-ll-{b}.parquet`), written *before* the batch's answer part, so a batch whose answer
//! part exists has its label part too (a batch answered by older code, without one, is redone);
//! `label_ll.parquet` is assembled at the end. A test set without label questions writes nothing.

use crate::error::{RagError, Result};
use crate::label_likelihood::label_tokens;
use crate::rag_prompt::AnswerForm;
use crate::test_inputs::TestInputs;
use finefail_core::files;
use finefail_data::tables::{read_label_ll, write_label_ll, LabelLlRecord};
use finefail_data::{Label, LabelSet};
use finefail_model::chat::ChatMessage;
use finefail_model::chat_model::ChatModel;
use finefail_model::continuations::continuation_log_probs_cached;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The spellings of a label whose probabilities are summed: lowercase (`yes`, as prompts name
/// it) and capitalised (`Yes`, how a chat model starts a sentence).
pub fn spellings(label: Label) -> [String; 2] {
    let lower = label.as_str().to_string();
    let mut chars = lower.chars();
    let capital = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    };
    [lower, capital]
}

/// `ln(eᵃ + eᵇ)`, exact for large magnitudes: the log-probability of "either spelling".
pub fn log_add_exp(a: f64, b: f64) -> f64 {
    let (hi, lo) = if a >= b { (a, b) } else { (b, a) };
    if hi == f64::NEG_INFINITY {
        return hi;
    }
    hi + (lo - hi).exp().ln_1p()
}

/// One question's rows: every label of `labels` scored after `messages` under `model` (see the
/// module doc for the spelling rule), in the label set's order.
pub fn score_question(
    model: &ChatModel,
    arm: &str,
    question_id: &str,
    messages: &[ChatMessage],
    labels: LabelSet,
) -> Result<Vec<LabelLlRecord>> {
    let started = Instant::now();
    let words: Vec<[String; 2]> = labels.labels().iter().map(|&l| spellings(l)).collect();
    let flat: Vec<&str> = words.iter().flatten().map(String::as_str).collect();
    // The error names the question; its kind (bad input or not) is kept.
    let named = |bad: bool, e: &dyn std::fmt::Display| {
        let message = format!("label question `{question_id}`: {e}");
        if bad {
            RagError::bad_input(message)
        } else {
            RagError::Other(message)
        }
    };
    let (prompt, continuations) =
        label_tokens(model, messages, &flat).map_err(|e| named(e.is_bad_input(), &e))?;
    let log_probs = continuation_log_probs_cached(&model.model, &prompt, &continuations)
        .map_err(|e| named(e.is_bad_input(), &e))?;
    let ms = started.elapsed().as_millis() as u64;
    Ok(labels
        .labels()
        .iter()
        .zip(log_probs.chunks(2))
        .map(|(&label, pair)| {
            let log_prob = log_add_exp(pair[0], pair[1]);
            LabelLlRecord {
                arm: arm.to_string(),
                question_id: question_id.to_string(),
                label,
                log_prob,
                norm_log_prob: log_prob / label.as_str().chars().count() as f64,
                log_prob_lower: pair[0],
                log_prob_capital: pair[1],
                ms,
            }
        })
        .collect())
}

/// The label part file of batch `batch` under `parts` (beside the answer parts).
fn part_path(parts: &Path, batch: usize) -> PathBuf {
    parts.join(format!("label-ll-{batch:05}.parquet"))
}

/// The label set of each label question of `ids` (by position), as its prompt offers them.
fn label_questions<'a>(inputs: &TestInputs, ids: &'a [String]) -> Vec<(usize, &'a str, LabelSet)> {
    ids.iter()
        .enumerate()
        .filter_map(|(i, id)| match inputs.form(inputs.questions.get(id)?) {
            AnswerForm::Label(set) => Some((i, id.as_str(), set)),
            AnswerForm::Text => None,
        })
        .collect()
}

/// True when batch `batch` needs no label scoring: it has no label question, or its part exists.
pub(crate) fn batch_done(inputs: &TestInputs, ids: &[String], parts: &Path, batch: usize) -> bool {
    label_questions(inputs, ids).is_empty() || part_path(parts, batch).is_file()
}

/// Scores the label questions of batch `batch` (`conversations[i]` is the prompt of `ids[i]`, the
/// one generation uses) into its part file; nothing when the batch has none or its part exists.
pub(crate) fn score_batch(
    model: &ChatModel,
    inputs: &TestInputs,
    arm: &str,
    ids: &[String],
    conversations: &[Vec<ChatMessage>],
    parts: &Path,
    batch: usize,
) -> Result<()> {
    if batch_done(inputs, ids, parts, batch) {
        return Ok(());
    }
    let mut rows = Vec::new();
    for (i, id, labels) in label_questions(inputs, ids) {
        let messages = conversations.get(i).ok_or_else(|| {
            RagError::Other(format!(
                "no prompt built for question `{id}` of batch {batch}"
            ))
        })?;
        rows.extend(score_question(model, arm, id, messages, labels)?);
    }
    write_label_ll(&part_path(parts, batch), &rows)?;
    Ok(())
}

/// Concatenates the label parts of `batches` (in order) into `out_dir/label_ll.parquet`; writes
/// nothing when no batch has a label question. The number of rows.
pub(crate) fn merge(
    inputs: &TestInputs,
    batches: &[&[String]],
    parts: &Path,
    out_dir: &Path,
) -> Result<usize> {
    let mut all = Vec::new();
    let mut any = false;
    for (b, ids) in batches.iter().enumerate() {
        if label_questions(inputs, ids).is_empty() {
            continue;
        }
        any = true;
        all.extend(read_label_ll(&part_path(parts, b))?);
    }
    if any {
        write_label_ll(&out_dir.join(files::LABEL_LL), &all)?;
    }
    Ok(all.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_is_spelled_lowercase_and_capitalised() {
        assert_eq!(
            spellings(Label::Yes),
            ["yes".to_string(), "Yes".to_string()]
        );
        assert_eq!(
            spellings(Label::Maybe),
            ["maybe".to_string(), "Maybe".to_string()]
        );
    }

    #[test]
    fn spellings_add_their_probabilities() {
        // p(yes) = 0.1, p(Yes) = 0.3: the label's probability is 0.4.
        let got = log_add_exp(0.1f64.ln(), 0.3f64.ln());
        assert!((got - 0.4f64.ln()).abs() < 1e-12, "{got}");
        assert_eq!(log_add_exp(-1.5, f64::NEG_INFINITY), -1.5);
        assert_eq!(
            log_add_exp(f64::NEG_INFINITY, f64::NEG_INFINITY),
            f64::NEG_INFINITY
        );
        // Large magnitudes stay exact: two equal tiny probabilities double.
        assert!((log_add_exp(-1000.0, -1000.0) - (-1000.0 + 2f64.ln())).abs() < 1e-9);
    }
}
