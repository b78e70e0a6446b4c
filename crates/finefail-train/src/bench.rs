//! `finefail bench train`: the recipe's own training step (answer-token cross-entropy, micro-batches
//! with gradient accumulation, global-norm clipping, AdamW on the path the trainer takes on the
//! device: host vectors on the CPU, tensor ops on the device elsewhere,
//! [`crate::optimizer::optimizer_path`]) on synthetic tokens, so its tokens/s and peak memory can
//! be put beside PyTorch + PEFT. Every position is a loss target, as in the peer's benchmark.

use crate::adamw::{AdamWParams, AdamWState};
use crate::error::{Result, TrainError};
use crate::examples::Example;
use crate::loss::micro_loss;
use crate::optimizer::{AdapterGrads, BatchGrads, Optimizer, OptimizerPath};
use crate::recompute::checkpointed_grads;
use burn::tensor::Device;
use finefail_model::bench::peak_rss_mb;
use finefail_model::llama::Llama;
use finefail_model::lora::LoraConfig;
use finefail_model::precision::Precision;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

/// What to measure.
#[derive(Debug, Clone)]
pub struct TrainBenchOptions {
    /// Hugging Face checkpoint directory.
    pub model_dir: PathBuf,
    /// Sequences per optimizer step (the effective batch).
    pub batch: usize,
    /// Tokens per sequence.
    pub seq: usize,
    /// Optimizer steps (the first one is reported but excluded from the mean).
    pub steps: usize,
    /// Sequences per forward/backward pass (gradients accumulate over `batch / micro_batch`).
    pub micro_batch: usize,
    /// A device without autodiff (`autodiff()` is added here).
    pub device: Device,
    /// How the frozen base is stored (resolved: `auto` counts as f32).
    pub precision: Precision,
    /// Recompute each decoder layer in the backward (`train.gradient_checkpointing`).
    pub checkpointing: bool,
    /// Where the optimizer step runs: the trainer's choice for the device
    /// ([`crate::optimizer::optimizer_path`]).
    pub optimizer: OptimizerPath,
}

/// What was measured.
#[derive(Debug, Clone, Serialize)]
pub struct TrainBenchReport {
    /// Sequences per step.
    pub batch: usize,
    /// Tokens per sequence.
    pub seq: usize,
    /// Sequences per forward/backward pass.
    pub micro_batch: usize,
    /// How the frozen base was stored, e.g. `bf16` or `f32 (nf4)`.
    pub precision: String,
    /// Whether layers were recomputed in the backward.
    pub checkpointing: bool,
    /// Where the optimizer step ran: `host` or `device`.
    pub optimizer: String,
    /// Wall seconds of every step.
    pub step_seconds: Vec<f64>,
    /// Loss of every step.
    pub losses: Vec<f64>,
    /// Seconds in forward passes (loss included), summed over all steps (with checkpointing:
    /// the whole forward-and-backward, which interleave).
    pub forward_s: f64,
    /// Seconds in backward passes, summed over all steps (0 with checkpointing).
    pub backward_s: f64,
    /// Seconds in the optimizer, summed over all steps: the adapter gradients taken from each
    /// backward and accumulated (host path: read to the host; device path: added on the device;
    /// with checkpointing this happens inside the layer loop and counts in `forward_s`),
    /// global-norm clipping, AdamW and the new values written back, and on the device path the
    /// step's one read of the losses and norm. Every phase ends with a device synchronize, so on
    /// an asynchronous device (CUDA) each one is charged its own kernels.
    pub optimizer_s: f64,
    /// Trained tokens per second, mean over the steps after the first (all steps when only one).
    pub tokens_per_s: f64,
    /// Peak resident memory of the process, MB.
    pub peak_rss_mb: f64,
}

/// Runs the benchmark; `on_step(step, seconds, loss)` is called after each step.
pub fn train_bench(
    opts: &TrainBenchOptions,
    mut on_step: impl FnMut(usize, f64, f64),
) -> Result<TrainBenchReport> {
    if opts.batch == 0 || opts.seq < 2 || opts.steps == 0 {
        return Err(TrainError::bad_input(
            &opts.model_dir,
            "bench train needs --batch ≥ 1, --seq ≥ 2 and --steps ≥ 1",
        ));
    }
    let micro = opts.micro_batch.clamp(1, opts.batch);
    let device = opts.device.clone().autodiff();
    let mut model = Llama::load_with(&opts.model_dir, &device, opts.precision)?;
    let lora = LoraConfig {
        r: 16,
        alpha: 32.0,
        dropout: 0.0,
        targets: ["q_proj", "k_proj", "v_proj", "o_proj"]
            .map(String::from)
            .to_vec(),
        seed: 0,
    };
    model.attach_lora(&lora)?;
    let vocab = model.config().vocab_size as u64;
    let mut x = 7u64;
    let examples: Vec<Example> = (0..opts.batch)
        .map(|i| Example {
            id: i.to_string(),
            tokens: (0..opts.seq + 1)
                .map(|_| {
                    x = x
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    ((x >> 33) % vocab) as u32
                })
                .collect(),
            prompt_len: 1,
        })
        .collect();
    let targets = (opts.batch * opts.seq) as f64;
    let hp = AdamWParams {
        betas: [0.9, 0.999],
        eps: 1e-8,
        weight_decay: 0.0,
    };
    let mut adam = Optimizer::new(opts.optimizer, AdamWState::default(), &model)?;
    let (mut step_seconds, mut losses) = (Vec::new(), Vec::new());
    let (mut forward_s, mut backward_s, mut optimizer_s) = (0.0, 0.0, 0.0);
    let sync = || {
        device
            .sync()
            .map_err(|e| TrainError::Other(format!("device synchronize failed: {e:?}")))
    };
    for step in 0..opts.steps {
        let t0 = Instant::now();
        let refs: Vec<&Example> = examples.iter().collect();
        let mut grads = AdapterGrads::new(opts.optimizer);
        let mut micro_losses = Vec::new();
        for mb in refs.chunks(micro) {
            if opts.checkpointing {
                let tf = Instant::now();
                let l =
                    checkpointed_grads(&model, mb, targets, 0, step as u64, &device, &mut grads)?;
                sync()?;
                forward_s += tf.elapsed().as_secs_f64();
                micro_losses.push(l);
                continue;
            }
            let tf = Instant::now();
            let l = micro_loss(&model, mb, targets, 0, &device);
            micro_losses.push(l.clone().inner());
            sync()?;
            forward_s += tf.elapsed().as_secs_f64();
            let tb = Instant::now();
            let g = l.backward();
            sync()?;
            backward_s += tb.elapsed().as_secs_f64();
            let to = Instant::now();
            grads.add_backward(&model, &g, None)?;
            sync()?;
            optimizer_s += to.elapsed().as_secs_f64();
        }
        let to = Instant::now();
        let batch = BatchGrads {
            losses: micro_losses,
            grads,
        };
        let loss = adam
            .step(&mut model, batch, &hp, 1e-4, 1.0, 0.0, &device)?
            .loss;
        sync()?;
        optimizer_s += to.elapsed().as_secs_f64();
        let s = t0.elapsed().as_secs_f64();
        on_step(step, s, loss);
        step_seconds.push(s);
        losses.push(loss);
    }
    let timed = if step_seconds.len() > 1 {
        &step_seconds[1..]
    } else {
        &step_seconds[..]
    };
    let mean = timed.iter().sum::<f64>() / timed.len() as f64;
    Ok(TrainBenchReport {
        batch: opts.batch,
        seq: opts.seq,
        micro_batch: micro,
        precision: opts.precision.to_string(),
        checkpointing: opts.checkpointing,
        optimizer: match opts.optimizer {
            OptimizerPath::Host => "host",
            OptimizerPath::Device => "device",
        }
        .into(),
        step_seconds,
        losses,
        forward_s,
        backward_s,
        optimizer_s,
        tokens_per_s: (opts.batch * opts.seq) as f64 / mean,
        peak_rss_mb: peak_rss_mb(),
    })
}
