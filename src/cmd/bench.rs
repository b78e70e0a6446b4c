//! `finefail bench train|generate`: speed and memory of the training step and of generation on a
//! real checkpoint (synthetic tokens). Numbers, not tests: `make bench` puts them beside the peers
//! in docs/performance.md. `--plain` switches the fused CPU kernels off to show what they bring.

use crate::cmd::precision::PrecisionArgs;
use clap::{Args, Subcommand};
use finefail_model::bench::{generate_bench, GenerateBenchOptions};
use finefail_model::device::{parse_device, DeviceSpec};
use finefail_model::ops::with_plain_kernels;
use finefail_train::bench::{train_bench, TrainBenchOptions};
use finefail_train::optimizer::{optimizer_path, OptimizerPath};
use std::path::{Path, PathBuf};

/// `finefail bench …`
#[derive(Subcommand)]
pub enum BenchCommand {
    /// One LoRA training step (r 16 on q/k/v/o, AdamW) repeated: seconds per step, tokens/s, peak RSS.
    Train(TrainArgs),
    /// Prefill and decode tokens/s and peak RSS.
    Generate(GenerateArgs),
}

/// Arguments of `finefail bench train`.
#[derive(Args)]
pub struct TrainArgs {
    /// Hugging Face checkpoint directory.
    #[arg(long, default_value = "checkpoints/smollm2-135m-instruct")]
    model: PathBuf,
    /// Sequences per optimizer step.
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Tokens per sequence.
    #[arg(long, default_value_t = 512)]
    seq: usize,
    /// Optimizer steps (the first is excluded from the mean).
    #[arg(long, default_value_t = 3)]
    steps: usize,
    /// Sequences per forward/backward pass (gradient accumulation; default 2, ≤ 3 GB at 8 × 512).
    #[arg(long, default_value_t = 2)]
    micro_batch: usize,
    /// cpu | cuda:N | tch-cpu | tch-cuda:N
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Use the plain burn-ops path instead of the fused CPU kernels.
    #[arg(long)]
    plain: bool,
    /// Recompute each decoder layer in the backward (`train.gradient_checkpointing`).
    #[arg(long)]
    checkpointing: bool,
    /// Where the optimizer step runs: host | device (default: the device's own path, as a
    /// fine-tune takes it — host on `cpu`, device elsewhere). For comparing the two paths.
    #[arg(long, value_parser = ["host", "device"])]
    optimizer: Option<String>,
    #[command(flatten)]
    precision: PrecisionArgs,
    /// Also write the result as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Arguments of `finefail bench generate`.
#[derive(Args)]
pub struct GenerateArgs {
    /// Hugging Face checkpoint directory.
    #[arg(long, default_value = "checkpoints/smollm2-135m-instruct")]
    model: PathBuf,
    /// Sequences decoded together.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Prompt tokens per sequence.
    #[arg(long, default_value_t = 512)]
    prompt_len: usize,
    /// Tokens generated per sequence.
    #[arg(long, default_value_t = 64)]
    new_tokens: usize,
    /// cpu | cuda:N | tch-cpu | tch-cuda:N
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Use the plain burn-ops path instead of the fused CPU kernels.
    #[arg(long)]
    plain: bool,
    #[command(flatten)]
    precision: PrecisionArgs,
    /// Also write the result as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn plain_if<R>(plain: bool, f: impl FnOnce() -> R) -> R {
    if plain {
        with_plain_kernels(f)
    } else {
        f()
    }
}

fn write_json<T: serde::Serialize>(path: Option<&Path>, value: &T) -> anyhow::Result<()> {
    if let Some(p) = path {
        finefail_core::atomic::write_json(p, value)?;
    }
    Ok(())
}

/// Runs a `finefail bench` subcommand.
pub fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Train(a) => {
            let opts = TrainBenchOptions {
                model_dir: a.model.clone(),
                batch: a.batch,
                seq: a.seq,
                steps: a.steps,
                micro_batch: a.micro_batch,
                device: parse_device(&a.device)?,
                precision: a.precision.resolve(&a.device, &a.model)?,
                checkpointing: a.checkpointing,
                optimizer: match a.optimizer.as_deref() {
                    Some("host") => OptimizerPath::Host,
                    Some("device") => OptimizerPath::Device,
                    _ => optimizer_path(DeviceSpec::parse(&a.device)?),
                },
            };
            let kernels = if a.plain {
                "plain burn ops"
            } else {
                "fused kernels"
            };
            eprintln!(
                "bench train: {} × {} tokens, micro-batch {}, {} steps, {kernels}, base {}{}",
                a.batch,
                a.seq,
                a.micro_batch.clamp(1, a.batch.max(1)),
                a.steps,
                opts.precision,
                if a.checkpointing {
                    ", checkpointing"
                } else {
                    ""
                }
            );
            let tokens = (a.batch * a.seq) as f64;
            let report = plain_if(a.plain, || {
                train_bench(&opts, |step, s, loss| {
                    eprintln!(
                        "  step {}: {s:.2} s, {:.1} tok/s, loss {loss:.4}",
                        step + 1,
                        tokens / s
                    )
                })
            })?;
            let total: f64 = report.step_seconds.iter().sum();
            println!(
                "train {}x{} (micro-batch {}): {:.1} tok/s, peak RSS {:.0} MB (all steps: forward {:.1} s, backward {:.1} s, optimizer ({}) {:.2} s = {:.1} % of {:.1} s)",
                report.batch,
                report.seq,
                report.micro_batch,
                report.tokens_per_s,
                report.peak_rss_mb,
                report.forward_s,
                report.backward_s,
                report.optimizer,
                report.optimizer_s,
                100.0 * report.optimizer_s / total.max(f64::EPSILON),
                total
            );
            write_json(a.json.as_deref(), &report)
        }
        BenchCommand::Generate(a) => {
            let opts = GenerateBenchOptions {
                model_dir: a.model.clone(),
                batch: a.batch,
                prompt_len: a.prompt_len,
                new_tokens: a.new_tokens,
                device: parse_device(&a.device)?,
                precision: a.precision.resolve(&a.device, &a.model)?,
            };
            eprintln!(
                "bench generate: batch {}, prompt {}, {} new tokens, base {}",
                a.batch, a.prompt_len, a.new_tokens, opts.precision
            );
            let report = plain_if(a.plain, || generate_bench(&opts))?;
            println!(
                "generate batch {} prompt {}: prefill {:.1} tok/s, decode {:.1} tok/s, peak RSS {:.0} MB",
                report.batch,
                report.prompt_len,
                report.prefill_tokens_per_s,
                report.decode_tokens_per_s,
                report.peak_rss_mb
            );
            write_json(a.json.as_deref(), &report)
        }
    }
}
