//! Label questions (PubMedQA yes/no/maybe, BoolQ yes/no) scored by log-likelihood, lm-eval's
//! `multiple_choice` way, instead of by parsing a generated answer: each label is scored as the
//! continuation of the arm's own RAG prompt (the assistant's reply starts with it), and the arm's
//! choice is the label the model finds most likely. This separates what the model *knows* (which label
//! it prefers) from whether it *answers in the format* the metric reads (which generation measures).
//!
//! Rules (lm-eval's `acc` and `acc_norm`; ties go to the first label, as `np.argmax` does):
//! * `acc`: argmax over labels of the summed log-probability of the label's tokens;
//! * `acc_norm`: argmax of that sum divided by the label's length in characters. lm-eval divides by
//!   `len(choice)` of the Python string, i.e. Unicode characters, without the delimiter; its byte
//!   length is a separate metric (`acc_bytes`). For the ASCII labels used here the two are equal.
//!
//! This module is the reference scorer and its proof (one full pass per label); answering scores
//! labels through [`crate::label_ll_answers`], which reuses [`label_tokens`] and runs the prompt once
//! (`finefail_model::continuations`), tested equal to [`continuation_log_probs`].

use crate::error::{RagError, Result};
use burn::tensor::{Int, Tensor, TensorData};
use finefail_model::attention_input::AttentionInput;
use finefail_model::chat::ChatMessage;
use finefail_model::chat_model::ChatModel;
use finefail_model::llama::Llama;

/// One label's score: what both decision rules read, kept so callers can record and audit it.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelScore {
    /// The label as given (its surface form is the continuation scored, e.g. `yes`).
    pub label: String,
    /// The label's token ids as they follow the prompt (tokenised in context).
    pub tokens: Vec<u32>,
    /// Summed natural-log probability of those tokens given the prompt (and the earlier label tokens).
    pub log_prob: f64,
    /// `log_prob` divided by the label's length in characters (lm-eval's `acc_norm` score).
    pub norm_log_prob: f64,
}

/// The scores of every label of one question and the label each rule picks.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelLikelihood {
    /// One score per label, in the order the labels were given.
    pub labels: Vec<LabelScore>,
    /// Index of the label with the largest summed log-probability (`acc`'s choice).
    pub best: usize,
    /// Index of the label with the largest length-normalised log-probability (`acc_norm`'s choice).
    pub best_norm: usize,
}

impl LabelLikelihood {
    /// The label `acc` picks, for comparing with the gold label.
    pub fn choice(&self) -> &str {
        &self.labels[self.best].label
    }

    /// The label `acc_norm` picks, for comparing with the gold label.
    pub fn choice_norm(&self) -> &str {
        &self.labels[self.best_norm].label
    }
}

/// Index of the largest value, the first one on ties (numpy's `argmax`, which lm-eval uses), so the
/// decision does not depend on float noise between equal scores' order. NaN is never chosen.
pub fn argmax_first(values: &[f64]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, &v) in values.iter().enumerate() {
        if v.is_nan() {
            continue;
        }
        if best.is_none_or(|b| v > values[b]) {
            best = Some(i);
        }
    }
    best
}

/// Both decision rules on given scores: summed log-probabilities and the labels they belong to (the
/// label's character count normalises). Separate from the model so the rules are testable by hand.
pub fn decide(labels: &[&str], log_probs: &[f64]) -> Result<LabelLikelihood> {
    if labels.is_empty() || labels.len() != log_probs.len() {
        return Err(RagError::bad_input(format!(
            "label likelihood needs one score per label ({} labels, {} scores)",
            labels.len(),
            log_probs.len()
        )));
    }
    let scores: Vec<LabelScore> = labels
        .iter()
        .zip(log_probs)
        .map(|(label, &lp)| LabelScore {
            label: label.to_string(),
            tokens: Vec::new(),
            log_prob: lp,
            norm_log_prob: lp / label.chars().count().max(1) as f64,
        })
        .collect();
    let raw: Vec<f64> = scores.iter().map(|s| s.log_prob).collect();
    let norm: Vec<f64> = scores.iter().map(|s| s.norm_log_prob).collect();
    let (Some(best), Some(best_norm)) = (argmax_first(&raw), argmax_first(&norm)) else {
        return Err(RagError::Other(
            "every label's log-likelihood is NaN".into(),
        ));
    };
    Ok(LabelLikelihood {
        labels: scores,
        best,
        best_norm,
    })
}

/// Prompt ids (chat template with the assistant header) and each label's continuation ids. A label is
/// tokenised *in context*: prompt text + label is encoded whole and the label's ids are what follows
/// the prompt's ids, so a tokenizer that would split or merge the label's first token differently at
/// the start of a text cannot mislead the score. The prompt's ids must be a prefix of the whole's
/// (otherwise the prompt's last token merged with the label, and no clean split exists: an error).
pub fn label_tokens(
    model: &ChatModel,
    messages: &[ChatMessage],
    labels: &[&str],
) -> Result<(Vec<u32>, Vec<Vec<u32>>)> {
    let model_err = |e: finefail_model::ModelError| RagError::Other(e.to_string());
    let text = model.template.render(messages, true).map_err(model_err)?;
    let prompt = model.tokenizer.encode(&text, false).map_err(model_err)?;
    let mut continuations = Vec::with_capacity(labels.len());
    for label in labels {
        if label.is_empty() {
            return Err(RagError::bad_input("a label must not be empty"));
        }
        let whole = model
            .tokenizer
            .encode(&format!("{text}{label}"), false)
            .map_err(model_err)?;
        if !whole.starts_with(&prompt) || whole.len() == prompt.len() {
            return Err(RagError::bad_input(format!(
                "label `{label}` does not tokenise as a continuation of the prompt \
                 (the prompt's tokens are not a prefix of prompt + label's)"
            )));
        }
        continuations.push(whole[prompt.len()..].to_vec());
    }
    Ok((prompt, continuations))
}

/// Summed log-probability (natural log, log-softmax in f64) of each continuation after `prompt`.
///
/// One forward pass for all continuations: rows are prompt + continuation, right-padded to the
/// longest; under causal attention a row's real positions never see its padding, so padding changes
/// nothing that is read. Only the positions that predict continuation tokens go through the output
/// head, so the cost is one prompt pass per label plus a few head rows, not `[t × vocab]` logits.
pub fn continuation_log_probs(
    model: &Llama,
    prompt: &[u32],
    continuations: &[Vec<u32>],
) -> Result<Vec<f64>> {
    if prompt.is_empty() {
        return Err(RagError::bad_input(
            "label likelihood needs a non-empty prompt",
        ));
    }
    if continuations.is_empty() || continuations.iter().any(Vec::is_empty) {
        return Err(RagError::bad_input(
            "label likelihood needs at least one non-empty continuation",
        ));
    }
    let vocab = model.config().vocab_size;
    if let Some(&bad) = prompt
        .iter()
        .chain(continuations.iter().flatten())
        .find(|&&i| i as usize >= vocab)
    {
        return Err(RagError::bad_input(format!(
            "token id {bad} is outside the vocabulary ({vocab})"
        )));
    }
    let p = prompt.len();
    let longest = continuations.iter().map(Vec::len).max().unwrap_or(0);
    let t = p + longest;
    let b = continuations.len();
    let pad = i64::from(prompt[0]);
    let mut rows = Vec::with_capacity(b * t);
    for c in continuations {
        rows.extend(prompt.iter().chain(c).map(|&i| i64::from(i)));
        rows.extend(std::iter::repeat_n(pad, longest - c.len()));
    }
    let device = model.device();
    let tokens = Tensor::<2, Int>::from_data(TensorData::new(rows, [b, t]), &device);
    let input = AttentionInput::causal(t, 0, &device);
    let hidden = model.forward_hidden(tokens, &input);
    // Positions p-1 .. p+longest-2 predict the continuation's tokens.
    let d = model.config().hidden_size;
    let head_in = hidden.narrow(1, p - 1, longest).reshape([b * longest, d]);
    let logits = head_in.matmul(model.output_weight());
    let values = finefail_model::weights::tensor_values(logits)
        .map_err(|e| RagError::Other(format!("reading logits: {e}")))?;
    Ok(continuations
        .iter()
        .enumerate()
        .map(|(r, c)| {
            c.iter()
                .enumerate()
                .map(|(j, &tok)| {
                    let row = &values[(r * longest + j) * vocab..(r * longest + j + 1) * vocab];
                    log_softmax_at(row, tok as usize)
                })
                .sum()
        })
        .collect())
}

/// `log_softmax(row)[index]` in f64: the max-shifted log-sum-exp keeps it exact for large logits.
fn log_softmax_at(row: &[f32], index: usize) -> f64 {
    let max = row
        .iter()
        .fold(f64::NEG_INFINITY, |m, &x| m.max(f64::from(x)));
    let sum: f64 = row.iter().map(|&x| (f64::from(x) - max).exp()).sum();
    f64::from(row[index]) - max - sum.ln()
}

/// Scores `labels` as continuations of the chat prompt `messages` (the arm's RAG prompt, e.g. from
/// [`crate::rag_prompt::fitted_messages`]) under `model` as loaded, adapter merged or not: per label
/// the summed and the length-normalised log-probability, and both rules' choices.
pub fn score_labels(
    model: &ChatModel,
    messages: &[ChatMessage],
    labels: &[&str],
) -> Result<LabelLikelihood> {
    if labels.is_empty() {
        return Err(RagError::bad_input(
            "label likelihood needs at least one label",
        ));
    }
    let (prompt, continuations) = label_tokens(model, messages, labels)?;
    let window = model.model.config().max_position_embeddings;
    let longest = continuations.iter().map(Vec::len).max().unwrap_or(0);
    if prompt.len() + longest > window {
        return Err(RagError::bad_input(format!(
            "prompt ({} tokens) + label ({longest} tokens) exceeds the model's window ({window})",
            prompt.len()
        )));
    }
    let log_probs = continuation_log_probs(&model.model, &prompt, &continuations)?;
    let mut out = decide(labels, &log_probs)?;
    for (score, tokens) in out.labels.iter_mut().zip(continuations) {
        score.tokens = tokens;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_takes_the_first_of_ties_and_skips_nan() {
        assert_eq!(argmax_first(&[-1.0, -0.5, -0.5]), Some(1));
        assert_eq!(argmax_first(&[f64::NAN, -3.0, -4.0]), Some(1));
        assert_eq!(argmax_first(&[f64::NAN]), None);
        assert_eq!(argmax_first(&[]), None);
    }

    #[test]
    fn log_softmax_is_exact_for_large_logits() {
        let row = [1000.0f32, 1000.0, 1000.0, 1000.0];
        assert!((log_softmax_at(&row, 2) - (0.25f64).ln()).abs() < 1e-12);
    }
}
