//! `answer/{arm}` for an API model (`[[models]] kind = "api"`): the endpoint answers the arm's
//! test set with the shared retrieval and RAG prompt, through the rag crate's
//! [`finefail_rag::api_answering`]; answers are cached under `<cache root>/api_answers/`.

use crate::config::{ApiModel, Config};
use crate::error::Result;
use finefail_core::{ArmId, RunLayout};
use finefail_data::chat_api::{ChatCache, ChatParams};
use finefail_rag::api_answering::{answer_test_set_api, ApiAnswerOptions};
use std::path::Path;

/// Answers the API arm `arm` into `scratch`.
pub fn run(
    config: &Config,
    entry: &ApiModel,
    arm: &str,
    parts: &ArmId,
    run_dir: &Path,
    scratch: &Path,
) -> Result<()> {
    let api = entry.chat_api_config();
    let g = &config.generation;
    let opts = ApiAnswerOptions {
        arm: arm.to_string(),
        context: parts.context,
        top_k: config.retrieval.top_k,
        params: ChatParams {
            max_tokens: u32::try_from(g.max_new_tokens).unwrap_or(u32::MAX),
            temperature: g.temperature,
            top_p: Some(g.top_p),
            stop: g.stop.clone(),
        },
        concurrency: entry.concurrency(),
        part_size: g.batch_size,
    };
    let cache = ChatCache::open(ChatCache::default_answers_dir())?;
    answer_test_set_api(
        &api,
        Some(&cache),
        &RunLayout::new(run_dir).data(&parts.dataset),
        Some(&RunLayout::new(run_dir).retrieval(&parts.dataset)),
        &opts,
        scratch,
        &mut |_, _| {},
    )?;
    Ok(())
}
