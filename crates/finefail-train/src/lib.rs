//! LoRA supervised fine-tuning for finefail: the recipe behind `finefail finetune` and the runner's
//! fine-tuning step.
//!
//! [`finetune`] takes a [`FinetuneRequest`] (data directory, subset size N, seed, base model, output
//! directory, [`FinetuneSettings`]) and writes `OUT/adapter/` (PEFT layout), `OUT/metrics.jsonl`,
//! `OUT/train_summary.json` and resumable `OUT/checkpoints/`. The loop reads top to bottom in
//! [`recipe`]; examples and truncation in [`examples`], batching and RNG in [`batching`], the
//! optimizer in [`adamw`], the learning-rate schedule in [`schedule`], checkpoints in [`checkpoint`].
//! The crate never prints and never exits: progress goes through a callback, errors are [`TrainError`].

pub mod adamw;
pub mod adapter;
pub mod batching;
pub mod bench;
pub mod checkpoint;
pub mod config;
pub mod error;
pub mod examples;
pub mod outputs;
pub mod recipe;
pub mod schedule;

pub use config::{FinetuneSettings, LoraSettings, TrainConfig};
pub use error::{Result, TrainError};
pub use recipe::{finetune, Event, FinetuneRequest, StepMetrics, TrainSummary};
