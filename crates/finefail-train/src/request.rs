//! What a caller hands the recipe ([`FinetuneRequest`]) and what the recipe reports back while it
//! runs ([`Event`]). The runner and the CLI fill the request; the CLI draws its progress bar from the
//! events.

use crate::config::FinetuneSettings;
use crate::optimizer::OptimizerPath;
use crate::outputs::StepMetrics;
use finefail_core::StopFlag;
use finefail_model::precision::Precision;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The default [`FinetuneRequest::checkpoint_interval`]: a minute of training at most is lost to
/// a kill, at the cost of one small adapter-and-moments write a minute.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(60);

/// Everything one fine-tuning run needs, so that callers never reach into the recipe's internals.
#[derive(Debug, Clone)]
pub struct FinetuneRequest {
    /// A directory written by `finefail data prepare`.
    pub data_dir: PathBuf,
    /// Training subset size N.
    pub size: usize,
    /// Seed: subset order, adapter init, dropout, shuffling.
    pub seed: u64,
    /// Base model (Hugging Face checkpoint directory).
    pub model_dir: PathBuf,
    /// Output directory.
    pub out_dir: PathBuf,
    /// Retrieval directory with `retrieval.parquet` (needed for `train.format = "rag"`).
    pub retrieval_dir: Option<PathBuf>,
    /// Chunks per question in `rag` prompts (retrieval.top_k; default 3).
    pub rag_top_k: usize,
    /// `train.*` and `lora.*`.
    pub settings: FinetuneSettings,
    /// Continue from the last checkpoint in `OUT/checkpoints/`.
    pub resume: bool,
    /// `--device` string: cpu | cuda:N | tch-cpu | tch-cuda:N.
    pub device: String,
    /// How the frozen base is stored (`--dtype`, `--quantize`; `auto` is resolved for the device).
    pub precision: Precision,
    /// Testing aid: return [`crate::TrainError::Interrupted`] right after this optimizer step, as
    /// if killed.
    pub stop_after_step: Option<usize>,
    /// Polled between optimizer steps: once requested (Ctrl-C, SIGTERM), the run checkpoints and
    /// returns [`crate::TrainError::Stopped`], so rerunning with `resume` continues from there.
    /// Defaults to the process-wide flag the binary's signal handler sets.
    pub stop: StopFlag,
    /// Also checkpoint when this much training time has passed since the last checkpoint (besides
    /// every `train.checkpoint_every` steps), so a killed run loses at most this much work.
    /// Default 60 s; `None` turns it off. Not a setting: checkpoints never change a number, so it
    /// stays out of the run's fingerprint and of every input hash.
    pub checkpoint_interval: Option<Duration>,
    /// Where the optimizer step runs: `None` (the default) lets the device decide
    /// ([`crate::optimizer::optimizer_path`]: host vectors on the CPU, tensor ops on the device
    /// elsewhere). Testing aid: `Some(OptimizerPath::Device)` runs the device path on the CPU.
    /// Not a setting: both paths give the same numbers, so it is in no fingerprint.
    #[doc(hidden)]
    pub optimizer: Option<OptimizerPath>,
}

impl FinetuneRequest {
    /// A request with default settings, top-k 3, CPU, no resume, the process's stop flag and a
    /// checkpoint at least every [`CHECKPOINT_INTERVAL`]: callers set only what differs.
    pub fn new(data_dir: &Path, size: usize, seed: u64, model_dir: &Path, out_dir: &Path) -> Self {
        Self {
            data_dir: data_dir.to_path_buf(),
            size,
            seed,
            model_dir: model_dir.to_path_buf(),
            out_dir: out_dir.to_path_buf(),
            retrieval_dir: None,
            rag_top_k: 3,
            settings: FinetuneSettings::default(),
            resume: false,
            device: "cpu".into(),
            precision: Precision::default(),
            stop_after_step: None,
            stop: StopFlag::process(),
            checkpoint_interval: Some(CHECKPOINT_INTERVAL),
            optimizer: None,
        }
    }
}

/// What the recipe reports while it runs: the library never prints, so the binary draws its
/// progress bar from these.
#[derive(Debug, Clone)]
pub enum Event {
    /// Setup done: the run goes from `start_step` to `total_steps`.
    Started {
        /// Training examples.
        examples: usize,
        /// Validation examples.
        val_examples: usize,
        /// Steps already done (resume).
        start_step: usize,
        /// Total optimizer steps.
        total_steps: usize,
        /// Where the optimizer step runs ([`crate::optimizer::optimizer_path`]).
        optimizer: OptimizerPath,
    },
    /// An optimizer step finished.
    Step(StepMetrics),
    /// A validation finished.
    Eval {
        /// Step it ran after.
        step: usize,
        /// Per-token mean validation loss.
        val_loss: f64,
    },
    /// A checkpoint was written.
    Checkpoint {
        /// Its step.
        step: usize,
    },
}
