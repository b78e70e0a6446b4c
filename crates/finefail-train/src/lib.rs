//! LoRA supervised fine-tuning for finefail: the recipe behind `finefail finetune` and the runner's
//! fine-tuning step.
//!
//! [`finetune`] takes a [`FinetuneRequest`] (data directory, subset size N, seed, base model, output
//! directory, [`FinetuneSettings`]) and writes `OUT/adapter/` (PEFT layout), `OUT/metrics.jsonl`,
//! `OUT/train_summary.json` and resumable `OUT/checkpoints/`. The loop reads top to bottom in
//! [`recipe`]; the request and progress events in [`request`]; examples and truncation in
//! [`examples`] (RAFT's gold-and-distractor contexts in [`raft`]); the loss and gradient accumulation in [`loss`]; batching and RNG in [`batching`];
//! the optimizer in [`adamw`] (as tensor ops on the device, for a GPU: [`device_adamw`]; which one a run takes: [`optimizer`]); the learning-rate schedule in [`schedule`]; the loop's resumable
//! state in [`state`], checkpoints in [`checkpoint`], where a run may stop in [`safe_point`] and the
//! run's identity in [`fingerprint`]; the
//! output files and their formats in [`outputs`]. The crate never prints and never exits: progress
//! goes through a callback, errors are [`TrainError`].

pub mod adamw;
pub mod adapter;
pub mod batching;
pub mod bench;
pub mod checkpoint;
pub mod config;
pub mod device_adamw;
pub mod error;
pub mod examples;
pub mod fingerprint;
pub mod loss;
pub mod micro_batch;
pub mod optimizer;
pub mod outputs;
pub mod raft;
pub mod recipe;
pub mod recompute;
pub mod request;
pub mod safe_point;
pub mod schedule;
pub mod state;

pub use config::{FinetuneSettings, Keep, LoraSettings, PromptFormat, TrainConfig};
pub use error::{Result, TrainError};
pub use outputs::{StepMetrics, TrainSummary};
pub use recipe::finetune;
pub use request::{Event, FinetuneRequest};
