//! `answer/{arm}` for an API model (`[[models]] kind = "api"`): the endpoint answers the arm's
//! test set with the shared retrieval and RAG prompt, through the rag crate's
//! [`finefail_rag::api_answering`]; answers are cached under `<cache root>/api_answers/`.

use crate::arm::{data_dir, retrieval_dir, ArmParts};
use crate::config::{Config, ModelEntry};
use crate::error::Result;
use finefail_data::chat_api::cache::CompletionCache;
use finefail_data::chat_api::{ChatApiConfig, ChatParams, DEFAULT_REASONING_TOKENS};
use finefail_rag::api_answering::{answer_test_set_api, ApiAnswerOptions};
use std::path::Path;
use std::time::Duration;

/// Requests in flight when `concurrency` is not set.
const DEFAULT_CONCURRENCY: usize = 4;

/// Answers the API arm `arm` into `scratch`.
pub fn run(
    config: &Config,
    entry: &ModelEntry,
    arm: &str,
    parts: &ArmParts,
    run_dir: &Path,
    scratch: &Path,
) -> Result<()> {
    let api = chat_api_config(entry);
    let g = &config.generation;
    let opts = ApiAnswerOptions {
        arm: arm.to_string(),
        context: parts.answer_context()?,
        top_k: config.retrieval.top_k,
        params: ChatParams {
            max_tokens: u32::try_from(g.max_new_tokens).unwrap_or(u32::MAX),
            temperature: g.temperature,
            top_p: Some(g.top_p),
            stop: g.stop.clone(),
        },
        concurrency: entry.concurrency.unwrap_or(DEFAULT_CONCURRENCY),
        part_size: g.batch_size,
    };
    let cache = CompletionCache::open(CompletionCache::default_answers_dir())?;
    answer_test_set_api(
        &api,
        Some(&cache),
        &data_dir(run_dir, &parts.dataset),
        Some(&retrieval_dir(run_dir, &parts.dataset)),
        &opts,
        scratch,
        &mut |_, _| {},
    )?;
    Ok(())
}

/// The endpoint settings of an API model entry, with the documented defaults (60 s timeout,
/// 3 retries from a 1 s back-off, the same as the judge's).
pub fn chat_api_config(entry: &ModelEntry) -> ChatApiConfig {
    let mut api = ChatApiConfig::new(
        entry.url.clone().unwrap_or_default(),
        entry.model.clone().unwrap_or_default(),
    );
    api.key_env = entry.key_env.clone();
    api.timeout = Duration::from_secs(entry.timeout_s.unwrap_or(60));
    api.max_retries = entry.max_retries.unwrap_or(3);
    api.reasoning = entry.reasoning.unwrap_or(false);
    api.reasoning_tokens = entry.reasoning_tokens.unwrap_or(DEFAULT_REASONING_TOKENS);
    api
}
