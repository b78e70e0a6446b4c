//! Training examples: a question (and, for `rag`, its retrieved chunks) rendered with the model's chat
//! template, tokenized, with the answer span marked for the loss.
//!
//! * Which: the training subset of size N in the seed's order, and the dataset's `val` ids for
//!   validation (never test) ([`RunExamples::load`]); for `rag`, each question's top-k retrieved
//!   chunks ([`load_contexts`]); for `raft`, its gold passage and distractors, shuffled
//!   ([`crate::raft`]), rendered with the `rag` prompt.
//! * Target: the first reference answer (one example per question, even when a dataset lists
//!   several), or [`finefail_data::ABSTENTION`] for unanswerable questions. An answerable question
//!   with no non-blank reference is bad input.
//! * Prompt: exactly the evaluation's prompt, fitted by the evaluation's own function
//!   (`finefail_rag::rag_prompt::fitted_messages`): for `rag`, its
//!   system line (answer from the numbered context, else "I don't know.") and a user turn with the
//!   numbered chunks then the question; for `qa`, the same function without chunks, i.e. the
//!   closed-book system line and the bare question.
//! * Tokens: prompt and answer continuation are split with `render_prompt_and_answer` and tokenized
//!   separately without extra special tokens (as transformers' `apply_chat_template`), so the loss
//!   covers exactly the answer continuation (answer text and the template's end-of-turn tokens).
//! * Truncation to `max_seq_len`: the answer is never cut. The prompt shrinks as evaluation's does
//!   (`fit_chunks`: the lowest-ranked chunk loses a quarter of its characters per round, and is
//!   dropped when empty, then the next one); with no chunk left, the question loses tokens from
//!   its middle (head and tail kept, joined by " … "), which evaluation never needs. If the prompt with an empty question still does not leave room for the answer, the
//!   example is bad input naming the question id.

use crate::config::PromptFormat;
use crate::error::{Result, TrainError};
use crate::request::FinetuneRequest;
use finefail_core::files;
use finefail_data::tables::read_ranked_chunk_texts;
use finefail_data::{LabelSet, QaRecord};
use finefail_model::chat::{ChatMessage, ChatTemplate};
use finefail_model::tokenizer::Tokenizer;
use finefail_rag::rag_prompt::{fitted_messages, rag_messages, AnswerForm};
use std::collections::HashMap;

/// One tokenized example.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// Question id.
    pub id: String,
    /// Prompt tokens followed by answer tokens.
    pub tokens: Vec<u32>,
    /// Number of prompt tokens; `tokens[prompt_len..]` are the answer (the loss targets).
    pub prompt_len: usize,
}

impl Example {
    /// Number of answer tokens (loss targets).
    pub fn answer_len(&self) -> usize {
        self.tokens.len() - self.prompt_len
    }
}

/// A run's tokenized examples, everything the loop needs from the data and the tokenizer.
#[derive(Debug, Clone)]
pub struct RunExamples {
    /// The training subset of size N, in the seed's order.
    pub train: Vec<Example>,
    /// The dataset's validation split (never test).
    pub val: Vec<Example>,
    /// The tokenizer's padding id (micro-batches are right-padded with it).
    pub pad: u32,
    /// `raft` only: which passages each training and validation example holds, for
    /// `OUT/raft_examples.jsonl` (empty for `qa` and `rag`).
    pub raft: Vec<crate::raft::RaftExample>,
}

impl RunExamples {
    /// Reads the prepared dataset (and, for `rag`, the retrieval) of `req` and tokenizes the
    /// training subset and the validation split with the base model's tokenizer and chat template.
    pub fn load(req: &FinetuneRequest) -> Result<Self> {
        let records: HashMap<String, QaRecord> =
            finefail_data::tables::read_qa(&req.data_dir.join(files::QA))?
                .into_iter()
                .map(|r| (r.id.clone(), r))
                .collect();
        let splits = finefail_data::Splits::load(&req.data_dir.join(files::SPLITS))?;
        let train_ids = splits.train_subset(req.seed, req.size)?;
        let mut raft = Vec::new();
        let contexts = match req.settings.train.format {
            PromptFormat::Rag => Some(load_contexts(req)?),
            PromptFormat::Qa => None,
            PromptFormat::Raft => {
                let (contexts, examples) =
                    crate::raft::load_contexts(req, &records, &train_ids, &splits.val)?;
                raft = examples;
                Some(contexts)
            }
        };
        let tokenizer = Tokenizer::from_dir(&req.model_dir)?;
        let template = ChatTemplate::from_dir(&req.model_dir)?;
        let max_len = req.settings.train.max_seq_len;
        let build = |ids: &[String]| {
            build_examples(
                ids,
                &records,
                contexts.as_ref(),
                &template,
                &tokenizer,
                max_len,
            )
        };
        Ok(Self {
            train: build(&train_ids)?,
            val: build(&splits.val)?,
            pad: tokenizer.pad_token_id(),
            raft,
        })
    }
}

/// Each question's top-k chunk texts, by rank, from `RETRIEVAL/retrieval.parquet` and
/// `DATA/chunks.parquet` (the data crate's one join, as answering reads them).
pub fn load_contexts(req: &FinetuneRequest) -> Result<HashMap<String, Vec<String>>> {
    let dir = req.retrieval_dir.as_ref().ok_or_else(|| {
        TrainError::bad_input(
            "--retrieval",
            "train.format = \"rag\" needs a retrieval directory (--retrieval DIR)",
        )
    })?;
    Ok(read_ranked_chunk_texts(&req.data_dir, dir, req.rag_top_k)?)
}

/// The training target of a question: the first reference, or the abstention answer.
pub fn target_answer(rec: &QaRecord) -> Result<String> {
    if !rec.answerable {
        return Ok(finefail_data::ABSTENTION.to_string());
    }
    match rec.answers.first().map(|a| a.trim()) {
        Some(a) if !a.is_empty() => Ok(a.to_string()),
        _ => Err(TrainError::bad_input(
            files::QA,
            format!(
                "question `{}` is answerable but has an empty answer",
                rec.id
            ),
        )),
    }
}

/// The `qa` training example of a question as chat messages, before the chat template and
/// tokenization: the closed-book system line (with the label instruction for a label question),
/// the question as the user turn and [`target_answer`] as the assistant turn. These are the
/// messages [`build_examples`] renders when the example fits `max_seq_len` untrimmed; `finefail
/// data export` writes them so the same examples can be sent to a hosted fine-tuning API.
/// `labels` is the dataset's label set ([`dataset_label_set`]).
pub fn qa_chat_messages(rec: &QaRecord, labels: LabelSet) -> Result<Vec<ChatMessage>> {
    let form = AnswerForm::of(rec.answer_type, labels);
    let mut messages = rag_messages(&rec.question, &[], form);
    messages.push(ChatMessage::new("assistant", target_answer(rec)?));
    Ok(messages)
}

/// The records of the training subset of size `size` for `seed`, in the order
/// [`RunExamples::load`] takes them (`Splits::train_subset`), read from a prepared dataset: what
/// a fine-tune of that size and seed trains on, for exporting it without a model.
pub fn train_subset_records(
    data_dir: &std::path::Path,
    size: usize,
    seed: u64,
) -> Result<Vec<QaRecord>> {
    let mut records: HashMap<String, QaRecord> =
        finefail_data::tables::read_qa(&data_dir.join(files::QA))?
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect();
    let splits = finefail_data::Splits::load(&data_dir.join(files::SPLITS))?;
    splits
        .train_subset(seed, size)?
        .into_iter()
        .map(|id| {
            records.remove(&id).ok_or_else(|| {
                TrainError::bad_input(
                    files::SPLITS,
                    format!("question `{id}` is not in qa.parquet"),
                )
            })
        })
        .collect()
}

/// The label set of the prepared dataset `data_dir` (from all of its questions): what a label
/// question's prompt offers, as training and evaluation build it.
pub fn dataset_label_set(data_dir: &std::path::Path) -> Result<LabelSet> {
    let records = finefail_data::tables::read_qa(&data_dir.join(files::QA))?;
    Ok(LabelSet::of(&records))
}

/// What an example is made of before tokenization.
struct Parts {
    question: String,
    form: AnswerForm,
    chunks: Option<Vec<String>>,
}

/// Tokenizes the examples of `ids` (in that order). `records` is every question of the dataset
/// (its label set, [`LabelSet::of`], is what label prompts offer); `contexts` holds each
/// question's chunk texts by rank for the `rag` format (`None` = `qa`).
pub fn build_examples(
    ids: &[String],
    records: &HashMap<String, QaRecord>,
    contexts: Option<&HashMap<String, Vec<String>>>,
    template: &ChatTemplate,
    tokenizer: &Tokenizer,
    max_seq_len: usize,
) -> Result<Vec<Example>> {
    let labels = LabelSet::of(records.values());
    ids.iter()
        .map(|id| {
            let rec = records.get(id).ok_or_else(|| {
                TrainError::bad_input(
                    files::SPLITS,
                    format!("question `{id}` is not in qa.parquet"),
                )
            })?;
            let chunks = match contexts {
                None => None,
                Some(map) => Some(map.get(id).cloned().ok_or_else(|| {
                    TrainError::bad_input(
                        files::RETRIEVAL,
                        format!("no retrieved chunks for question `{id}`"),
                    )
                })?),
            };
            let parts = Parts {
                question: rec.question.clone(),
                form: AnswerForm::of(rec.answer_type, labels),
                chunks,
            };
            fit_example(
                id,
                parts,
                &target_answer(rec)?,
                template,
                tokenizer,
                max_seq_len,
            )
        })
        .collect()
}

/// Renders and tokenizes, shrinking the prompt until prompt + answer fit `max_seq_len`: the chunks
/// by the evaluation's own fitting function ([`fitted_messages`]), then, with no chunk left, the
/// question (a training-only last resort: evaluation never trims a question).
fn fit_example(
    id: &str,
    parts: Parts,
    answer: &str,
    template: &ChatTemplate,
    tokenizer: &Tokenizer,
    max_seq_len: usize,
) -> Result<Example> {
    let render = |messages: &[ChatMessage]| -> Result<(Vec<u32>, Vec<u32>)> {
        let (prompt, answer_text) = template.render_prompt_and_answer(messages, answer)?;
        Ok((
            tokenizer.encode(&prompt, false)?,
            tokenizer.encode(&answer_text, false)?,
        ))
    };
    let chunks = parts.chunks.unwrap_or_default();
    let (_, answer_tokens) = render(&rag_messages(&parts.question, &chunks, parts.form))?;
    let budget = max_seq_len.saturating_sub(answer_tokens.len());
    let count = |m: &[ChatMessage]| render(m).map_or(usize::MAX, |(p, _)| p.len());
    let mut messages = fitted_messages(&parts.question, parts.form, &chunks, budget, &count);
    let mut question = parts.question;
    let mut rounds = 0;
    loop {
        let (p, a) = render(&messages)?;
        let total = p.len() + a.len();
        if total <= max_seq_len && !p.is_empty() {
            let prompt_len = p.len();
            let mut tokens = p;
            tokens.extend(a);
            return Ok(Example {
                id: id.to_string(),
                tokens,
                prompt_len,
            });
        }
        let over = total.saturating_sub(max_seq_len).max(1);
        let q = tokenizer.encode(&question, false)?;
        if q.is_empty() {
            return Err(TrainError::bad_input(
                "train.max_seq_len",
                format!(
                    "question `{id}`: the answer ({} tokens) and the prompt template do not fit in \
                     max_seq_len = {max_seq_len} tokens even with the question removed",
                    a.len()
                ),
            ));
        }
        rounds += 1;
        // Cut a few more tokens than the overflow to pay for the ellipsis; give up on the question
        // after a bounded number of rounds (a tokenizer that re-merges the cut text differently).
        let keep = q.len().saturating_sub(over + 4);
        question = if keep == 0 || rounds > 16 {
            String::new()
        } else {
            let head = tokenizer.decode(&q[..keep / 2], false)?;
            let tail = tokenizer.decode(&q[q.len() - (keep - keep / 2)..], false)?;
            format!("{} … {}", head.trim(), tail.trim())
        };
        // Every chunk is gone by now (the fitting above drops them before the question is cut).
        messages = rag_messages(&question, &[], parts.form);
    }
}
