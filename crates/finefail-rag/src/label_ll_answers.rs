//! Label questions scored by log-likelihood while an arm answers (issue 25): for each label
//! question of a batch, the very messages the arm generates from (RAG prompt, or whatever prompt
//! the arm uses) are run through the arm's model as loaded (adapter merged), and every label of
//! the dataset's label set is scored as the start of the assistant's reply. When every spelling of
//! every label is one token (SmolLM2: `yes`, `Yes`, `no`, … each one token), the scores are read
//! from the first step of the batch's own generation (`BatchLabels::first_tokens`,
//! `ChatModel::answer_scoring_first`): no pass of their own, and `ms` is 0. Otherwise the question
//! gets its own pass ([`finefail_model::continuations`]: the prompt once, each label from its KV
//! cache); both read the same next-token distribution, equal up to float rounding (tested).
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

/// One question's rows: every label of `labels` scored after `messages` under `model` with a pass
/// of its own (see the module doc for the spelling rule), in the label set's order.
pub fn score_question(
    model: &ChatModel,
    arm: &str,
    question_id: &str,
    messages: &[ChatMessage],
    labels: LabelSet,
) -> Result<Vec<LabelLlRecord>> {
    LabelQuestion::tokenise(model, 0, question_id, messages, labels)?.own_pass(model, arm)
}

/// One label question of a batch, tokenised: its position in the batch, the prompt the generation
/// uses and the continuation ids of each label's two spellings (label set order, lowercase first).
struct LabelQuestion<'a> {
    index: usize,
    id: &'a str,
    labels: LabelSet,
    prompt: Vec<u32>,
    continuations: Vec<Vec<u32>>,
}

impl<'a> LabelQuestion<'a> {
    /// Tokenises the spellings of `labels` as continuations of `messages`' prompt.
    fn tokenise(
        model: &ChatModel,
        index: usize,
        id: &'a str,
        messages: &[ChatMessage],
        labels: LabelSet,
    ) -> Result<Self> {
        let words: Vec<[String; 2]> = labels.labels().iter().map(|&l| spellings(l)).collect();
        let flat: Vec<&str> = words.iter().flatten().map(String::as_str).collect();
        let (prompt, continuations) =
            label_tokens(model, messages, &flat).map_err(|e| named(id, e.is_bad_input(), &e))?;
        Ok(Self {
            index,
            id,
            labels,
            prompt,
            continuations,
        })
    }

    /// The spellings' ids when every one is a single token (then the generation's first step
    /// scores them all).
    fn single_tokens(&self) -> Option<Vec<u32>> {
        self.continuations
            .iter()
            .map(|c| (c.len() == 1).then(|| c[0]))
            .collect()
    }

    /// The rows from a pass of the question's own.
    fn own_pass(&self, model: &ChatModel, arm: &str) -> Result<Vec<LabelLlRecord>> {
        let started = Instant::now();
        let log_probs =
            continuation_log_probs_cached(&model.model, &self.prompt, &self.continuations)
                .map_err(|e| named(self.id, e.is_bad_input(), &e))?;
        let ms = started.elapsed().as_millis() as u64;
        Ok(self.records(arm, &log_probs, ms))
    }

    /// The rows from the spellings' log-probabilities (`log_probs[2k]` lowercase, `[2k + 1]`
    /// capitalised of the k-th label).
    fn records(&self, arm: &str, log_probs: &[f64], ms: u64) -> Vec<LabelLlRecord> {
        self.labels
            .labels()
            .iter()
            .zip(log_probs.chunks(2))
            .map(|(&label, pair)| {
                let log_prob = log_add_exp(pair[0], pair[1]);
                LabelLlRecord {
                    arm: arm.to_string(),
                    question_id: self.id.to_string(),
                    label,
                    log_prob,
                    norm_log_prob: log_prob / label.as_str().chars().count() as f64,
                    log_prob_lower: pair[0],
                    log_prob_capital: pair[1],
                    ms,
                }
            })
            .collect()
    }
}

/// An error that names the question; its kind (bad input or not) is kept.
fn named(question_id: &str, bad: bool, e: &dyn std::fmt::Display) -> RagError {
    let message = format!("label question `{question_id}`: {e}");
    if bad {
        RagError::bad_input(message)
    } else {
        RagError::Other(message)
    }
}

/// The label questions of one batch still to be scored, tokenised once: what the batch's
/// generation scores at its first step ([`BatchLabels::first_tokens`]) and the rows written from
/// that ([`BatchLabels::write`]).
pub(crate) struct BatchLabels<'a> {
    questions: Vec<LabelQuestion<'a>>,
}

impl<'a> BatchLabels<'a> {
    /// The label questions of batch `batch` (`conversations[i]` is the prompt of `ids[i]`, the one
    /// generation uses); none when the batch has none or its label part exists already.
    pub(crate) fn new(
        model: &ChatModel,
        inputs: &TestInputs,
        ids: &'a [String],
        conversations: &[Vec<ChatMessage>],
        parts: &Path,
        batch: usize,
    ) -> Result<Self> {
        if batch_done(inputs, ids, parts, batch) {
            return Ok(Self {
                questions: Vec::new(),
            });
        }
        let questions = label_questions(inputs, ids)
            .into_iter()
            .map(|(i, id, labels)| {
                let messages = conversations.get(i).ok_or_else(|| {
                    RagError::Other(format!(
                        "no prompt built for question `{id}` of batch {batch}"
                    ))
                })?;
                LabelQuestion::tokenise(model, i, id, messages, labels)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { questions })
    }

    /// What the generation of `n` conversations scores at its first step: for a label question
    /// whose every spelling is one token, those tokens; nothing for every other conversation (or
    /// nothing at all when no question qualifies).
    pub(crate) fn first_tokens(&self, n: usize) -> Vec<Vec<u32>> {
        let mut out = vec![Vec::new(); n];
        let mut any = false;
        for q in &self.questions {
            if let (Some(tokens), Some(slot)) = (q.single_tokens(), out.get_mut(q.index)) {
                *slot = tokens;
                any = true;
            }
        }
        if any {
            out
        } else {
            Vec::new()
        }
    }

    /// Writes the batch's label part: each question's rows from `first_scores` (what the
    /// generation returned for [`BatchLabels::first_tokens`]) when it was scored there, else from
    /// a pass of its own. Nothing when there is no question to score.
    pub(crate) fn write(
        &self,
        model: &ChatModel,
        arm: &str,
        first_scores: &[Vec<f64>],
        parts: &Path,
        batch: usize,
    ) -> Result<()> {
        if self.questions.is_empty() {
            return Ok(());
        }
        let mut rows = Vec::new();
        for q in &self.questions {
            match first_scores.get(q.index).filter(|s| !s.is_empty()) {
                Some(scores) => rows.extend(q.records(arm, scores, 0)),
                None => rows.extend(q.own_pass(model, arm)?),
            }
        }
        write_label_ll(&part_path(parts, batch), &rows)?;
        Ok(())
    }
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

    /// The committed tiny Llama beside the word-level ChatML tokenizer (as the crate's tests
    /// load it): `yes`, `no`, `maybe` one token each, the capitalised spellings its unknown token.
    fn tiny_chat_model() -> (tempfile::TempDir, ChatModel) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let tmp = tempfile::tempdir().unwrap();
        for f in ["config.json", "model.safetensors"] {
            let from = root
                .join("../finefail-model/tests/fixtures/tiny_llama")
                .join(f);
            std::fs::copy(from, tmp.path().join(f)).unwrap();
        }
        for f in ["tokenizer.json", "tokenizer_config.json"] {
            let from = root.join("tests/fixtures/tiny_chat_tokenizer").join(f);
            std::fs::copy(from, tmp.path().join(f)).unwrap();
        }
        let model = ChatModel::load(tmp.path(), None, &burn::tensor::Device::flex()).unwrap();
        (tmp, model)
    }

    /// A batch's label rows read from its generation's first step equal each question's own pass
    /// (`score_question`) within 1e-5 — label questions at positions 0 and 2 of a padded batch of
    /// three, one yes/no/maybe and one yes/no; a question the generation did not score (an empty
    /// score list) gets its own pass, bit for bit `score_question`'s values.
    #[test]
    fn rows_from_the_generation_s_first_step_equal_each_question_s_own_pass() {
        let (_dir, model) = tiny_chat_model();
        let ask = |q: &str| {
            vec![
                ChatMessage::new("system", "answer the question ."),
                ChatMessage::new("user", q),
            ]
        };
        let conversations = vec![
            ask("is the apple red ?"),
            ask("what is the colour of the sky ?"),
            ask("is the banana yellow or is the lemon green ?"),
        ];
        let ids = ["q0".to_string(), "q1".to_string(), "q2".to_string()];
        let tokenise = |i: usize, labels| {
            LabelQuestion::tokenise(&model, i, &ids[i], &conversations[i], labels).unwrap()
        };
        let batch = BatchLabels {
            questions: vec![
                tokenise(0, LabelSet::YesNoMaybe),
                tokenise(2, LabelSet::YesNo),
            ],
        };
        let first = batch.first_tokens(3);
        assert_eq!(first.iter().map(Vec::len).collect::<Vec<_>>(), [6, 0, 4]);
        let gen = model.generation_config(3, Default::default());
        let (_, scores) = model
            .answer_scoring_first(&conversations, &gen, &first)
            .unwrap();
        let parts = tempfile::tempdir().unwrap();
        let own = |i: usize, labels| {
            score_question(&model, "a", &ids[i], &conversations[i], labels).unwrap()
        };
        let want: Vec<LabelLlRecord> =
            [own(0, LabelSet::YesNoMaybe), own(2, LabelSet::YesNo)].concat();
        batch.write(&model, "a", &scores, parts.path(), 0).unwrap();
        let got = read_label_ll(&part_path(parts.path(), 0)).unwrap();
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(
                (g.question_id.as_str(), g.label),
                (w.question_id.as_str(), w.label)
            );
            for (a, b) in [
                (g.log_prob, w.log_prob),
                (g.log_prob_lower, w.log_prob_lower),
                (g.log_prob_capital, w.log_prob_capital),
                (g.norm_log_prob, w.norm_log_prob),
            ] {
                assert!((a - b).abs() <= 1e-5, "{g:?} vs {w:?}");
            }
            assert_eq!(g.ms, 0, "read from the generation: no time of its own");
        }
        // q2 not scored by the generation: its own pass, exactly score_question's numbers.
        let mut partial = scores.clone();
        partial[2].clear();
        batch.write(&model, "a", &partial, parts.path(), 1).unwrap();
        let got = read_label_ll(&part_path(parts.path(), 1)).unwrap();
        let q2 = |rows: &[LabelLlRecord]| -> Vec<f64> {
            rows.iter()
                .filter(|r| r.question_id == "q2")
                .map(|r| r.log_prob)
                .collect()
        };
        assert_eq!(q2(&got), q2(&want));
    }
}
