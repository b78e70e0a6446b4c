//! `finetune/{dataset}/{model}/n{N}/s{seed}`: one LoRA adapter (`adapters/…`).

use crate::arm::{data_dir, parse_arm, retrieval_dir};
use crate::config::Config;
use crate::error::{Result, RunnerError};
use crate::progress::{ProgressSink, StepProgress};
use serde_json::json;
use std::path::Path;

/// Trains in `scratch` with `resume`, so a killed run continues from its last checkpoint;
/// reports optimizer steps with the latest loss.
pub fn run(
    config: &Config,
    rest: &str,
    run_dir: &Path,
    scratch: &Path,
    progress: ProgressSink,
) -> Result<()> {
    let parts = parse_arm(rest)
        .ok_or_else(|| RunnerError::config(run_dir, format!("bad finetune step `{rest}`")))?;
    let seed = parts.seed.ok_or_else(|| {
        RunnerError::config(run_dir, format!("finetune step `{rest}` has no seed"))
    })?;
    let entry = config.model(&parts.model)?;
    let settings: finefail_train::FinetuneSettings =
        serde_json::from_value(json!({ "train": config.train, "lora": config.lora }))
            .map_err(|e| RunnerError::config("config", format!("train/lora settings: {e}")))?;
    let data = data_dir(run_dir, &parts.dataset);
    let mut req = finefail_train::FinetuneRequest::new(&data, parts.n, seed, &entry.path, scratch);
    req.settings = settings;
    req.rag_top_k = config.retrieval.top_k;
    req.device = config.device.clone();
    req.precision = entry
        .precision()
        .map_err(|m| RunnerError::config("config", m))?;
    req.resume = scratch.join("checkpoints").is_dir();
    if config.train.format == finefail_train::PromptFormat::Rag {
        req.retrieval_dir = Some(retrieval_dir(run_dir, &parts.dataset));
    }
    progress(StepProgress::stage("loading the model and the examples"));
    let (mut total, mut val) = (0, String::new());
    finefail_train::finetune(&req, &mut |event| {
        use finefail_train::Event;
        match event {
            Event::Started {
                total_steps,
                start_step,
                ..
            } => {
                total = *total_steps;
                progress(StepProgress::count("steps", *start_step, total));
            }
            Event::Step(m) => progress(
                StepProgress::count("steps", m.step, total)
                    .with_note(format!("loss {:.4}{val}", m.loss)),
            ),
            Event::Eval { val_loss, .. } => val = format!(", val loss {val_loss:.4}"),
            Event::Checkpoint { .. } => {}
        }
    })?;
    Ok(())
}
