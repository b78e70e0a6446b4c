//! `answer/{arm}`: one arm's answers to its dataset's test set (`answers/{arm}/`); an API
//! model's arm is answered by `api_answer`.

use crate::arm::{adapter_path, data_dir, retrieval_dir, step_arm};
use crate::config::Config;
use crate::error::{Result, RunnerError};
use crate::progress::{ProgressSink, StepProgress};
use finefail_model::chat_model::ChatModel;
use finefail_model::device::{parse_device, DeviceSpec};
use finefail_model::sampling::SamplingConfig;
use finefail_rag::answering::{answer_test_set, AnswerOptions};
use std::path::Path;

/// Loads the arm's model (base, plus its adapter when N > 0) and answers into `scratch`.
pub fn run(
    config: &Config,
    arm: &str,
    run_dir: &Path,
    scratch: &Path,
    progress: ProgressSink,
) -> Result<()> {
    let parts = step_arm(arm, run_dir)?;
    let entry = config.model(&parts.model)?;
    if entry.is_api() {
        return super::api_answer::run(config, entry, arm, &parts, run_dir, scratch);
    }
    let adapter = parts.seed.filter(|_| parts.n > 0).map(|seed| {
        run_dir
            .join(adapter_path(&parts.dataset, &parts.model, parts.n, seed))
            .join("adapter")
    });
    progress(StepProgress::stage("loading the model"));
    let precision = entry
        .precision()
        .map_err(|m| RunnerError::config("config", m))?
        .resolve_for_checkpoint(DeviceSpec::parse(&config.device)?, &entry.path)?;
    let model = ChatModel::load_with(
        &entry.path,
        adapter.as_deref(),
        &parse_device(&config.device)?,
        precision,
    )?;
    let g = &config.generation;
    let opts = AnswerOptions {
        arm: arm.to_string(),
        context: parts.answer_context()?,
        top_k: config.retrieval.top_k,
        max_new_tokens: g.max_new_tokens,
        sampling: SamplingConfig {
            temperature: g.temperature as f32,
            top_p: g.top_p as f32,
            seed: parts.seed.unwrap_or(0),
        },
        batch_size: g.batch_size,
    };
    answer_test_set(
        &model,
        &data_dir(run_dir, &parts.dataset),
        Some(&retrieval_dir(run_dir, &parts.dataset)),
        &opts,
        scratch,
        &mut |done, total| progress(StepProgress::count("questions", done, total)),
    )?;
    Ok(())
}
