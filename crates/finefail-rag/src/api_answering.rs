//! The API answering arm: a dataset's test set answered by an OpenAI-compatible endpoint (the
//! paper's GPT-4 benchmark), never fine-tuned, with the same retrieval and the same RAG prompt
//! messages as every local arm ([`rag_messages`]; the chunks are not trimmed, an endpoint's window
//! is assumed to hold `top_k` chunks).
//!
//! 1. Load the test questions and their contexts exactly as [`crate::answering`] does.
//! 2. Build each question's request body; its hash is the cache key (model, messages, generation
//!    parameters — never the URL or the key).
//! 3. The chat client's batch pipeline ([`ask_all`]): cached answers reused; anything else → one
//!    preflight (unreachable endpoint, rejected key or unknown model is bad input), then
//!    `concurrency` workers ask, each question with the client's retries.
//! 4. Each batch of `part_size` questions in test order becomes one atomic part file under
//!    `OUT/parts/` as soon as all its answers are in; `OUT/answers.parquet` is assembled at the end.
//!
//! A question that still fails after the client's retries fails the whole step (after the finished
//! parts are written and every answer got so far is cached): `answers.parquet` has no error column,
//! and an empty answer would be scored as a wrong one. Rerunning resumes at the first missing part
//! and asks only what is not cached.
//!
//! `prompt_tokens` / `answer_tokens` are the endpoint's `usage` counts (its own tokenizer; hidden
//! reasoning tokens excluded), 0 when it reports none; `ms` is the wall time of the request (for a
//! cached answer, of the request that filled the cache).

use crate::answer_parts::{merge_parts, part_path};
use crate::answering::{check_arm, AnswerContext};
use crate::error::{RagError, Result};
use crate::rag_prompt::rag_messages;
use crate::test_inputs::{load_test_inputs, TestInputs};
use finefail_data::chat_api::cache::cache_key;
use finefail_data::chat_api::{
    ask_all, Answered, AskOptions, ChatApiConfig, ChatCache, ChatClient, ChatParams, Completion,
};
use finefail_data::tables::write_answers;
use finefail_data::AnswerRecord;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::Path;

/// How an API arm answers.
#[derive(Debug, Clone)]
pub struct ApiAnswerOptions {
    /// Arm name, `{dataset}/{model}/n0[@context]`.
    pub arm: String,
    /// What the arm answers from.
    pub context: AnswerContext,
    /// Chunks per question.
    pub top_k: usize,
    /// Generation parameters sent with every question.
    pub params: ChatParams,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Questions per part file (resume granularity).
    pub part_size: usize,
}

/// Answers the test set of `data_dir` through the endpoint of `api` into
/// `out_dir/answers.parquet`; `cache` = `None` asks every question. `progress(done, total)`.
pub fn answer_test_set_api(
    api: &ChatApiConfig,
    cache: Option<&ChatCache>,
    data_dir: &Path,
    retrieval_dir: Option<&Path>,
    opts: &ApiAnswerOptions,
    out_dir: &Path,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<usize> {
    // 1. The questions and their contexts, as every local arm gets them.
    check_arm(&opts.arm, opts.context).map_err(RagError::bad_input)?;
    if opts.part_size == 0 || opts.concurrency == 0 {
        return Err(RagError::bad_input(
            "batch size and concurrency must be at least 1",
        ));
    }
    let client = ChatClient::new(api)
        .map_err(|e| RagError::bad_input(format!("API model `{}`: {e}", api.model)))?;
    let inputs = load_test_inputs(data_dir, retrieval_dir, opts.context, opts.top_k)?;
    let TestInputs {
        questions,
        test,
        contexts,
        ..
    } = &inputs;

    // 2. One request body (and cache key) per question still to answer.
    let parts = out_dir.join("parts");
    std::fs::create_dir_all(&parts).map_err(|e| RagError::io(&parts, e))?;
    let total = test.len();
    let batches: Vec<&[String]> = test.chunks(opts.part_size).collect();
    let pending: Vec<usize> = (0..batches.len())
        .filter(|&b| !part_path(&parts, b).is_file())
        .collect();
    let mut done = total - pending.iter().map(|&b| batches[b].len()).sum::<usize>();
    progress(done, total);
    let mut slots: HashMap<usize, Vec<Option<Completion>>> = HashMap::new();
    let mut asks: Vec<Ask> = Vec::new();
    for &b in &pending {
        slots.insert(b, vec![None; batches[b].len()]);
        for (i, id) in batches[b].iter().enumerate() {
            let q = questions.get(id).ok_or_else(|| {
                RagError::bad_input(format!(
                    "splits.json names `{id}`, which is not in qa.parquet"
                ))
            })?;
            let chunks = contexts.get(id).map(Vec::as_slice).unwrap_or(&[]);
            let messages: Vec<Value> = rag_messages(&q.question, chunks, inputs.form(q))
                .into_iter()
                .map(|m| json!({"role": m.role, "content": m.content}))
                .collect();
            asks.push(Ask {
                batch: b,
                index: i,
                id: id.clone(),
                body: client.body(&messages, &opts.params),
            });
        }
    }
    let keys: Vec<String> = asks.iter().map(|a| cache_key(&a.body)).collect();

    // 3. Cached answers, then one preflight and the workers; 4. parts as batches complete.
    let write_ready = |slots: &mut HashMap<usize, Vec<Option<Completion>>>,
                       done: &mut usize,
                       progress: &mut dyn FnMut(usize, usize)|
     -> Result<()> {
        let mut ready: Vec<usize> = slots
            .iter()
            .filter(|(_, s)| s.iter().all(Option::is_some))
            .map(|(&b, _)| b)
            .collect();
        ready.sort_unstable();
        for &b in &ready {
            let slot = slots.remove(&b).unwrap_or_default();
            let rows: Vec<AnswerRecord> = batches[b]
                .iter()
                .zip(slot.into_iter().flatten())
                .map(|(id, c)| AnswerRecord {
                    arm: opts.arm.clone(),
                    question_id: id.clone(),
                    context: opts.context.as_str().to_string(),
                    answer: c.content.trim().to_string(),
                    prompt_tokens: c.prompt_tokens.unwrap_or(0),
                    answer_tokens: c.answer_tokens().unwrap_or(0),
                    ms: c.ms,
                })
                .collect();
            write_answers(&part_path(&parts, b), &rows)?;
            *done += rows.len();
            progress(*done, total);
        }
        Ok(())
    };
    let mut failure: Option<String> = None;
    let ask_opts = AskOptions {
        concurrency: opts.concurrency,
        stop_at_first_error: true,
    };
    ask_all(
        &keys,
        cache,
        &ask_opts,
        || {
            client
                .preflight()
                .map_err(|e| RagError::bad_input(format!("API model `{}`: {e}", client.model())))
        },
        |t| {
            client
                .complete_body(&asks[t].body)
                .map_err(|e| e.to_string())
        },
        &mut |answered: Answered<'_, Completion>| {
            let a = &asks[answered.index];
            match answered.result {
                Ok(c) => {
                    if let Some(slot) = slots.get_mut(&a.batch) {
                        slot[a.index] = Some(c.clone());
                    }
                    write_ready(&mut slots, &mut done, progress)
                }
                Err(why) => {
                    failure.get_or_insert_with(|| {
                        format!(
                            "API model `{}`, question `{}`: {why}; the answers got so far are \
                             kept (parts and cache): rerun to resume",
                            client.model(),
                            a.id
                        )
                    });
                    Ok(())
                }
            }
        },
    )?;
    if let Some(why) = failure {
        return Err(RagError::Other(why));
    }
    merge_parts(&parts, batches.len(), out_dir)
}

/// One question to ask: where its answer goes, and the exact body whose hash is its cache key.
struct Ask {
    batch: usize,
    index: usize,
    id: String,
    body: Value,
}
