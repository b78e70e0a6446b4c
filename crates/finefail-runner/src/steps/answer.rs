//! `answer/{arm}`: one arm's answers to its dataset's test set (`answers/{arm}/`); an API
//! model's arm is answered by `api_answer`. An in-context arm (`icl{K}/s{seed}`) is the base model
//! with the seed's first K training examples as demonstrations ([`finefail_rag::icl_prompt`]).

use crate::arm::step_arm;
use crate::config::{Config, ModelSource};
use crate::error::{Result, RunnerError};
use crate::progress::{ProgressSink, StepProgress};
use finefail_core::{files, RunLayout, StopFlag};
use finefail_model::chat_model::ChatModel;
use finefail_model::device::{parse_device, DeviceSpec};
use finefail_model::sampling::SamplingConfig;
use finefail_rag::answering::{answer_test_set, AnswerOptions};
use finefail_rag::icl_prompt::Demonstration;
use serde_json::{json, Value};
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
    let adapter = run
        .fine_tune_of(&parts)
        .map(|dir| dir.join(files::ADAPTER_DIR));
    let demonstrations = match (parts.icl, parts.seed) {
        (Some(k), Some(seed)) => {
            progress(StepProgress::stage("reading the demonstrations"));
            let demos = demonstrations(config, &run, &parts.dataset, k, seed)?;
            let record = json!({
                "k": k,
                "seed": seed,
                "context": demonstrations_use_context(config),
                "ids": demos.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
            });
            std::fs::create_dir_all(scratch).map_err(RunnerError::io(scratch))?;
            finefail_core::atomic::write_json(&scratch.join(files::DEMONSTRATIONS), &record)?;
            Some(demos)
        }
        _ => None,
    };
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
        demonstrations,
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

/// Whether an in-context arm's demonstrations carry their retrieved chunks: when the study's
/// training format trains with context (`rag`, `raft`), so the demonstrations look like what a
/// fine-tune of that format learns from; `qa` shows them closed book. The study's format is its
/// one format (`sweep.formats` with one entry, else `train.format`); with several, `train.format`.
fn demonstrations_use_context(config: &Config) -> bool {
    match config.formats().as_slice() {
        [one] => one.reads_retrieval(),
        _ => config.train.format.reads_retrieval(),
    }
}

/// The first `k` training examples of `seed` for `dataset`, with the training crate's targets and,
/// when [`demonstrations_use_context`], their top-k retrieved chunks.
fn demonstrations(
    config: &Config,
    run: &RunLayout,
    dataset: &str,
    k: u64,
    seed: u64,
) -> Result<Vec<Demonstration>> {
    let retrieval = run.retrieval(dataset);
    let retrieval =
        demonstrations_use_context(config).then_some((retrieval.as_path(), config.retrieval.top_k));
    let target = |r: &finefail_data::QaRecord| {
        finefail_train::examples::target_answer(r).map_err(|e| e.to_string())
    };
    Ok(finefail_rag::icl_prompt::demonstrations(
        &run.data(dataset),
        k as usize,
        seed,
        retrieval,
        &target,
    )?)
}

/// What an in-context answer step's demonstrations depend on beyond its id (which holds K and the
/// seed): whether they carry context and how many chunks; `None` for every other arm.
pub fn icl_slice(config: &Config, subject: &str) -> Result<Option<Value>> {
    let arm = step_arm(subject, Path::new("config"))?;
    if !arm.is_in_context() {
        return Ok(None);
    }
    let context = demonstrations_use_context(config);
    Ok(Some(json!({
        "context": context,
        "top_k": context.then_some(config.retrieval.top_k),
    })))
}
