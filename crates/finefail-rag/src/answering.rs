//! Batched answering of a dataset's test set by one arm (a base model, or base + adapter) with the
//! RAG prompt. Batches are fixed by question order; each finished batch is one atomic part file
//! under `OUT/parts/`, so an interrupted run resumes at the first unanswered batch and gives the
//! same answers; `OUT/answers.parquet` is assembled atomically at the end. A stop request (Ctrl-C)
//! is heard between batches ([`AnswerOptions::stop`]). Label questions are also scored by the
//! log-likelihood of each label after the same prompt ([`crate::label_ll_answers`]) into
//! `OUT/label_ll.parquet`.

use crate::answer_parts::{merge_parts, part_path};
use crate::error::{RagError, Result};
use crate::icl_prompt::{icl_messages, Demonstration};
use crate::label_ll_answers::{self, BatchLabels};
use crate::rag_prompt::fitted_messages;
use crate::test_inputs::{load_test_inputs, TestInputs};
use finefail_core::files;
use finefail_data::tables::write_answers;
use finefail_model::chat_model::ChatModel;
use finefail_model::sampling::SamplingConfig;
use std::path::Path;
use std::time::Instant;

pub use finefail_core::AnswerContext;
use finefail_core::{ArmId, StopFlag};

/// Checks an arm name against the contract ([`ArmId`]) and that its suffix is the context's.
pub fn check_arm(arm: &str, context: AnswerContext) -> std::result::Result<ArmId, String> {
    let id: ArmId = arm.parse().map_err(|e: finefail_core::BadArm| e.0)?;
    if id.context != context {
        return Err(format!(
            "arm `{arm}` does not match --context {context}: {}",
            match context {
                AnswerContext::Retrieved => "retrieved-context arms have no @ suffix".to_string(),
                c => format!("its name must end in @{c}"),
            }
        ));
    }
    Ok(id)
}

/// How to answer.
#[derive(Debug, Clone)]
pub struct AnswerOptions {
    pub arm: String,
    pub context: AnswerContext,
    pub top_k: usize,
    pub max_new_tokens: usize,
    pub sampling: SamplingConfig,
    pub batch_size: usize,
    /// Polled between batches: once requested (Ctrl-C, SIGTERM) answering ends with
    /// [`RagError::Stopped`], every finished batch kept as its part file, so a rerun answers only
    /// the rest. `finefail run` passes the process-wide flag its signal handler sets.
    pub stop: StopFlag,
    /// The in-context arm's demonstrations (`icl{K}` arms: [`crate::icl_prompt::demonstrations`]),
    /// put before every question by [`icl_messages`]; `None` for every other arm. Given exactly
    /// when the arm is an in-context one.
    pub demonstrations: Option<Vec<Demonstration>>,
}

pub use finefail_data::AnswerRecord;

/// Answers the test set of `data_dir` into `out_dir/answers.parquet`; `progress(done, total)`.
pub fn answer_test_set(
    model: &ChatModel,
    data_dir: &Path,
    retrieval_dir: Option<&Path>,
    opts: &AnswerOptions,
    out_dir: &Path,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<usize> {
    let arm = check_arm(&opts.arm, opts.context).map_err(RagError::bad_input)?;
    if arm.is_in_context() != opts.demonstrations.is_some() {
        return Err(RagError::bad_input(format!(
            "arm `{arm}`: {}",
            if arm.is_in_context() {
                "an in-context arm needs its demonstrations (run it with `finefail run` and eval.icl_shots)"
            } else {
                "demonstrations are for in-context (icl{K}) arms only"
            }
        )));
    }
    if opts.batch_size == 0 {
        return Err(RagError::bad_input("batch size must be at least 1"));
    }
    let inputs = load_test_inputs(data_dir, retrieval_dir, opts.context, opts.top_k)?;
    let TestInputs {
        questions,
        test,
        contexts,
        ..
    } = &inputs;

    let parts = out_dir.join(files::ANSWER_PARTS);
    std::fs::create_dir_all(&parts).map_err(|e| RagError::io(&parts, e))?;
    let budget = model
        .model
        .config()
        .max_position_embeddings
        .saturating_sub(opts.max_new_tokens)
        .max(16);
    let gen = model.generation_config(opts.max_new_tokens, opts.sampling);
    let total = test.len();
    let batches: Vec<&[String]> = test.chunks(opts.batch_size).collect();
    let mut done = 0;
    for (b, ids) in batches.iter().enumerate() {
        let part = part_path(&parts, b);
        // A batch answered without its label log-likelihoods (older code) is redone whole.
        if part.is_file() && label_ll_answers::batch_done(&inputs, ids, &parts, b) {
            done += ids.len();
            progress(done, total);
            continue;
        }
        if opts.stop.requested() {
            return Err(RagError::Stopped { done, total });
        }
        let count = |m: &[finefail_model::chat::ChatMessage]| {
            model
                .prompt_tokens(m)
                .map(|t| t.len())
                .unwrap_or(usize::MAX)
        };
        let mut conversations = Vec::with_capacity(ids.len());
        let mut prompt_lens = Vec::with_capacity(ids.len());
        for id in ids.iter() {
            let q = questions.get(id).ok_or_else(|| {
                RagError::bad_input(format!(
                    "splits.json names `{id}`, which is not in qa.parquet"
                ))
            })?;
            let chunks = contexts.get(id).map(Vec::as_slice).unwrap_or(&[]);
            let messages = match &opts.demonstrations {
                None => fitted_messages(&q.question, inputs.form(q), chunks, budget, &count),
                Some(demos) => icl_messages(
                    &arm.dataset,
                    demos,
                    &q.question,
                    inputs.form(q),
                    chunks,
                    budget,
                    &count,
                )?,
            };
            prompt_lens.push(count(&messages) as u64);
            conversations.push(messages);
        }
        // Label questions: each label's log-likelihood after the same prompt (issue 25), read
        // from the generation's first step where the labels are one token each.
        let labels = BatchLabels::new(model, &inputs, ids, &conversations, &parts, b)?;
        let started = Instant::now();
        let (generations, first_scores) = model
            .answer_scoring_first(&conversations, &gen, &labels.first_tokens(ids.len()))
            .map_err(|e| RagError::Other(e.to_string()))?;
        let ms = (started.elapsed().as_millis() as u64) / ids.len() as u64;
        // Before the answer part: a batch whose answer part exists has its label part too.
        labels.write(model, &opts.arm, &first_scores, &parts, b)?;
        let rows: Vec<AnswerRecord> = ids
            .iter()
            .zip(generations)
            .zip(prompt_lens)
            .map(|((id, g), p)| AnswerRecord {
                arm: opts.arm.clone(),
                question_id: id.clone(),
                context: opts.context.as_str().to_string(),
                answer: g.text.trim().to_string(),
                prompt_tokens: p,
                answer_tokens: g.tokens.len() as u64,
                ms,
            })
            .collect();
        write_answers(&part, &rows)?;
        done += ids.len();
        progress(done, total);
    }
    label_ll_answers::merge(&inputs, &batches, &parts, out_dir)?;
    merge_parts(&parts, batches.len(), out_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arm_names_are_checked_against_the_context() {
        assert!(check_arm("pubmedqa/smollm2/n0", AnswerContext::Retrieved).is_ok());
        assert!(check_arm("pubmedqa/smollm2/n50/s1@none", AnswerContext::None).is_ok());
        assert!(check_arm("pubmedqa/smollm2/n50/s1", AnswerContext::Gold).is_err());
        assert!(check_arm("pubmedqa/smollm2/n50/s1@gold", AnswerContext::Retrieved).is_err());
        assert!(check_arm("pubmedqa/smollm2/50", AnswerContext::Retrieved).is_err());
        assert!(check_arm("pub med/smollm2/n5", AnswerContext::Retrieved).is_err());
    }
}
