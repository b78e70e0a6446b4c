//! `finetune/{dataset}/{model}[/{format}]/n{N}/s{seed}`: one LoRA adapter (`adapters/…`), in the
//! format its id names (several formats) or `train.format`.

use crate::arm::{arm_seed, step_arm};
use crate::config::Config;
use crate::error::{Result, RunnerError};
use crate::progress::{ProgressSink, StepProgress};
use finefail_core::{files, RunLayout, StopFlag};
use serde_json::json;
use std::path::Path;

/// Trains in `scratch` with `resume`, so a killed run continues from its last checkpoint (a stop
/// request checkpoints first); reports optimizer steps with the latest loss.
pub fn run(
    config: &Config,
    rest: &str,
    run_dir: &Path,
    scratch: &Path,
    progress: ProgressSink,
    stop: &StopFlag,
) -> Result<()> {
    let parts = step_arm(rest, run_dir)?;
    let seed = arm_seed(&parts, run_dir)?;
    let run = RunLayout::new(run_dir);
    let entry = config.model(&parts.model)?.checkpoint()?;
    let train = train_settings(config, rest)?;
    let settings: finefail_train::FinetuneSettings =
        serde_json::from_value(json!({ "train": train, "lora": config.lora }))
            .map_err(|e| RunnerError::config("config", format!("train/lora settings: {e}")))?;
    let data = run.data(&parts.dataset);
    let mut req =
        finefail_train::FinetuneRequest::new(&data, parts.n as usize, seed, &entry.path, scratch);
    req.settings = settings;
    req.rag_top_k = config.retrieval.top_k;
    req.device = config.device.clone();
    req.precision = entry.precision();
    req.resume = scratch.join(files::CHECKPOINTS_DIR).is_dir();
    req.stop = stop.clone();
    if train.format.reads_retrieval() {
        req.retrieval_dir = Some(run.retrieval(&parts.dataset));
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

/// The `[train]` settings of the fine-tune `subject` (`{dataset}/{model}[/{format}]/n{N}/s{seed}`):
/// the config's, with `format` set to the one the id names when the study compares several, or to
/// the one format of `sweep.formats` when it lists one (absent: `train.format` as it is).
pub fn train_settings(config: &Config, subject: &str) -> Result<finefail_train::TrainConfig> {
    let arm = step_arm(subject, Path::new("config"))?;
    let mut train = config.train.clone();
    train.format = match &arm.format {
        Some(word) => word.parse().map_err(|e: finefail_train::TrainError| {
            RunnerError::config("config", e.to_string())
        })?,
        None => config.formats().first().copied().unwrap_or(train.format),
    };
    Ok(train)
}
