//! `answer/{arm}`: one arm's answers to its dataset's test set (`answers/{arm}/`); an API
//! model's arm is answered by `api_answer`.

use crate::arm::step_arm;
use crate::config::{Config, ModelSource};
use crate::error::Result;
use crate::progress::{ProgressSink, StepProgress};
use finefail_core::{files, RunLayout, StopFlag};
use finefail_model::chat_model::ChatModel;
use finefail_model::device::{parse_device, DeviceSpec};
use finefail_model::sampling::SamplingConfig;
use finefail_rag::answering::{answer_test_set, AnswerOptions};
use std::path::Path;

/// Loads the arm's model (base, plus its adapter when N > 0) and answers into `scratch`; a stop
/// request ends it between two batches, the finished ones kept for the rerun.
pub fn run(
    config: &Config,
    arm: &str,
    run_dir: &Path,
    scratch: &Path,
    progress: ProgressSink,
    stop: &StopFlag,
) -> Result<()> {
    let parts = step_arm(arm, run_dir)?;
    let entry = match &config.model(&parts.model)?.source {
        ModelSource::Api(api) => {
            return super::api_answer::run(config, api, arm, &parts, run_dir, scratch)
        }
        ModelSource::Local(local) => local,
    };
    let run = RunLayout::new(run_dir);
    let adapter = parts.seed.map(|seed| {
        run.fine_tune(&parts.dataset, &parts.model, parts.n, seed)
            .join(files::ADAPTER_DIR)
    });
    progress(StepProgress::stage("loading the model"));
    let precision = entry
        .precision()
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
        context: parts.context,
        top_k: config.retrieval.top_k,
        max_new_tokens: g.max_new_tokens,
        sampling: SamplingConfig {
            temperature: g.temperature as f32,
            top_p: g.top_p as f32,
            seed: parts.seed.unwrap_or(0),
        },
        batch_size: g.batch_size,
        stop: stop.clone(),
    };
    answer_test_set(
        &model,
        &run.data(&parts.dataset),
        Some(&run.retrieval(&parts.dataset)),
        &opts,
        scratch,
        &mut |done, total| progress(StepProgress::count("questions", done, total)),
    )?;
    Ok(())
}
