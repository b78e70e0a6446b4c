//! The fine-tuning recipe, one readable loop (like torchtune's `lora_finetune_single_device`):
//!
//! 1. examples: the training subset of size N for the seed, rendered and tokenized ([`crate::examples`]);
//!    validation examples from the dataset's `val` ids (never test);
//! 2. model: the base checkpoint on an autodiff device, LoRA attached (A seeded by the run's seed);
//! 3. for each optimizer step: the next batch of the epoch's length-aware plan ([`crate::batching`]),
//!    split into micro-batches; per micro-batch the flex RNG (dropout) is reseeded from
//!    hash(seed, step, micro-step), the loss is the **sum** of answer-token cross-entropies divided by
//!    the number of answer tokens of the whole effective batch, and gradients are summed — so the
//!    step's loss is the per-token mean over the effective batch and k micro-batches of b equal one
//!    batch of k·b ([`crate::loss`]); then global-norm clipping, the scheduled learning rate and
//!    AdamW ([`crate::adamw`]) — on host vectors on the CPU, as tensor ops on the device
//!    elsewhere ([`crate::optimizer::optimizer_path`]);
//! 4. validation every epoch (or `eval_every` steps) and at the last step; early stopping; the best
//!    adapter kept aside when `keep = "best"`;
//! 5. checkpoints every `checkpoint_every` steps, after each minute of training and at the end
//!    ([`crate::checkpoint`]); a stop request (Ctrl-C) checkpoints and ends the run between two
//!    steps ([`crate::safe_point`]); `resume` continues from the last complete one after checking
//!    it belongs to the same run ([`crate::fingerprint`]);
//! 6. outputs, each written atomically: `OUT/adapter/` (PEFT), `OUT/metrics.jsonl`, `OUT/train_summary.json`
//!    ([`crate::outputs`]); for `train.format = "raft"`, `OUT/raft_examples.jsonl` (written with
//!    the examples in step 1: [`crate::raft`]).

use crate::adamw::{AdamWParams, AdamWState};
use crate::checkpoint;
use crate::config::{Keep, PromptFormat};
use crate::error::{Result, TrainError};
use crate::examples::{Example, RunExamples};
use crate::fingerprint::{fingerprint, mismatch};
use crate::loss::{batch_grads, validation_loss};
use crate::optimizer::{optimizer_path, Optimizer, StepNumbers};
use crate::outputs::{self, StepMetrics, TrainSummary};
use crate::request::{Event, FinetuneRequest};
use crate::safe_point::{CheckpointParts, SafePoint};
use crate::schedule::Schedule;
use crate::state::LoopState;
use finefail_core::files;
use finefail_model::device::DeviceSpec;
use finefail_model::llama::Llama;
use finefail_model::peft::{save_adapter, AdapterConfig, WEIGHTS_FILE};
use std::path::Path;
use std::time::Instant;

/// Runs (or resumes) one fine-tuning run; returns its summary. Progress goes to `progress`.
pub fn finetune(req: &FinetuneRequest, progress: &mut dyn FnMut(&Event)) -> Result<TrainSummary> {
    let s = &req.settings;
    s.validate()?;
    if req.size == 0 {
        return Err(TrainError::bad_input(
            "--size",
            "the training subset size must be positive",
        ));
    }
    outputs::prepare_out_dir(&req.out_dir)?;
    let ck_root = req.out_dir.join(files::CHECKPOINTS_DIR);

    // 1. Examples (for `raft`, which passages each one holds goes beside the adapter).
    let RunExamples {
        train,
        val,
        pad,
        raft,
    } = RunExamples::load(req)?;
    if s.train.format == PromptFormat::Raft {
        crate::raft::write_examples(&req.out_dir, &raft)?;
    }

    // 2. Model.
    let spec = DeviceSpec::parse(&req.device)?;
    let precision = req.precision.resolve_for_checkpoint(spec, &req.model_dir)?;
    let device = spec.device()?.autodiff();
    let mut model = Llama::load_with(&req.model_dir, &device, precision)?;
    model.attach_lora(&s.lora_config(req.seed))?;
    let adapter_cfg =
        AdapterConfig::new(&s.lora_config(req.seed), &req.model_dir.to_string_lossy());
    let fingerprint = fingerprint(req, &train, &val)?;

    // Steps, schedule, optimizer.
    let batch = s.train.batch_size;
    let steps_per_epoch = train.len().div_ceil(batch);
    let total_steps = s
        .train
        .max_steps
        .unwrap_or(s.train.epochs * steps_per_epoch);
    let schedule = Schedule::new(
        s.train.lr,
        s.train.schedule.as_str(),
        s.train.warmup_ratio,
        total_steps,
    );
    let hp = AdamWParams {
        betas: s.train.betas,
        eps: s.train.eps,
        weight_decay: s.train.weight_decay,
    };

    // Fresh start or resume.
    let (mut st, adam) = start_or_resume(req, &ck_root, &fingerprint, &mut model)?;
    let path = req.optimizer.unwrap_or(optimizer_path(spec));
    let mut adam = Optimizer::new(path, adam, &model)?;
    let mut metrics =
        outputs::Metrics::open(&req.out_dir.join(files::TRAIN_METRICS), st.step, req.resume)?;
    progress(&Event::Started {
        examples: train.len(),
        val_examples: val.len(),
        start_step: st.step,
        total_steps,
        optimizer: adam.path(),
    });

    // 3–5. The loop.
    let lengths: Vec<usize> = train.iter().map(|e| e.tokens.len()).collect();
    let micro = s.micro_batch();
    // The validation loss before any step (the report's barely-trained check): no dropout, no RNG
    // draw, no step counted; a resumed run keeps the one its first process measured.
    if !val.is_empty() && st.step == 0 && st.initial_val.is_none() {
        st.initial_val = Some(validation_loss(&model, &val, micro, pad, &device));
    }
    let clock = Instant::now();
    let elapsed_before = st.elapsed_s;
    let mut safe = SafePoint::new(req, &st);
    while st.step < total_steps && !st.stopped_early {
        // A stop request (Ctrl-C, SIGTERM) ends the run here, its last step checkpointed.
        let parts = ck_parts(&ck_root, &model, &adapter_cfg, &adam, &st);
        if let Some(stopped) = safe.stop_here(&parts, total_steps, progress)? {
            return Err(stopped);
        }
        // 3. One optimizer step.
        if st.epoch_done() {
            st.next_epoch(&lengths, batch);
        }
        let t0 = Instant::now();
        let batch_ex: Vec<&Example> = st.next_batch().iter().map(|&i| &train[i]).collect();
        let grads = batch_grads(
            &model,
            &batch_ex,
            micro,
            req.seed,
            st.step,
            pad,
            s.train.gradient_checkpointing,
            &device,
            path,
        )?;
        let lr = schedule.lr_at(st.step);
        // The loss is read back with the step (once, on the device path): a non-finite one ends
        // the run before anything of this step is kept.
        let StepNumbers { loss, grad_norm } = adam.step(
            &mut model,
            grads,
            &hp,
            lr,
            s.train.max_grad_norm,
            s.lora.dropout,
            &device,
        )?;
        if !loss.is_finite() {
            return Err(TrainError::Other(format!(
                "loss became {loss} at step {}",
                st.step + 1
            )));
        }
        let tokens: usize = batch_ex.iter().map(|e| e.tokens.len()).sum();
        let answer_tokens: usize = batch_ex.iter().map(|e| e.answer_len()).sum();
        st.count_step(tokens, answer_tokens, loss);
        let dt = t0.elapsed().as_secs_f64();
        st.elapsed_s = elapsed_before + clock.elapsed().as_secs_f64();
        let row = StepMetrics {
            step: st.step,
            total_steps,
            epoch: st.epoch,
            loss,
            lr,
            grad_norm,
            tokens,
            tokens_per_s: tokens as f64 / dt.max(1e-9),
            elapsed_s: st.elapsed_s,
        };
        metrics.push_train(&row)?;
        progress(&Event::Step(row));

        // 4. Validation, early stopping, the best adapter kept aside.
        let last = st.step == total_steps;
        let eval_due = match s.train.eval_every {
            Some(k) => st.step % k == 0,
            None => st.epoch_done(),
        };
        if !val.is_empty() && (eval_due || last) {
            let v = validation_loss(&model, &val, micro, pad, &device);
            let better = st.record_validation(v, s.train.early_stop_patience);
            if better && s.train.keep == Keep::Best {
                save_adapter(
                    &model,
                    &checkpoint::best_dir(&ck_root, st.step),
                    &adapter_cfg,
                )?;
            }
            metrics.push_val(st.step, st.epoch, v, better)?;
            progress(&Event::Eval {
                step: st.step,
                val_loss: v,
            });
        }

        // 5. Checkpoints (also once a minute of training: they change no number).
        let ck_due = s.train.checkpoint_every > 0 && st.step % s.train.checkpoint_every == 0;
        if ck_due || last || st.stopped_early || safe.time_due() {
            let parts = ck_parts(&ck_root, &model, &adapter_cfg, &adam, &st);
            safe.write(&parts, progress)?;
        }
        if req.stop_after_step == Some(st.step) {
            return Err(TrainError::Interrupted { step: st.step });
        }
    }

    // 6. Outputs.
    write_outputs(
        req,
        &model,
        &adapter_cfg,
        &st,
        (train.len(), val.len()),
        &ck_root,
    )
}

/// What a checkpoint of the current step is made of.
fn ck_parts<'a>(
    root: &'a Path,
    model: &'a Llama,
    adapter_cfg: &'a AdapterConfig,
    adam: &'a Optimizer,
    state: &'a LoopState,
) -> CheckpointParts<'a> {
    CheckpointParts {
        root,
        model,
        adapter_cfg,
        adam,
        state,
    }
}

/// The state to start from: a fresh one or, with `resume`, the last complete checkpoint's (its
/// adapter loaded into `model`) once its fingerprint shows it is this run's. Without `resume`,
/// checkpoints already there are refused rather than overwritten.
fn start_or_resume(
    req: &FinetuneRequest,
    ck_root: &Path,
    fingerprint: &str,
    model: &mut Llama,
) -> Result<(LoopState, AdamWState)> {
    let settings =
        serde_json::to_value(&req.settings).map_err(|e| TrainError::Other(e.to_string()))?;
    checkpoint::clean_partial(ck_root);
    match checkpoint::list(ck_root)?.last() {
        Some((step, dir)) if req.resume => {
            let (st, adam) = checkpoint::load(dir)?;
            if st.fingerprint != fingerprint {
                return Err(mismatch(dir, &st.settings, &settings));
            }
            finefail_model::peft::load_adapter(model, &dir.join(checkpoint::ADAPTER_DIR))?;
            debug_assert_eq!(*step, st.step);
            Ok((st, adam))
        }
        Some(_) => Err(TrainError::bad_input(
            ck_root,
            "checkpoints of an earlier run are here: pass --resume to continue it, or choose another --out",
        )),
        None => Ok((
            LoopState::fresh(fingerprint, &settings, req.seed),
            AdamWState::default(),
        )),
    }
}

/// Step 6: the adapter `keep` asks for goes to `OUT/adapter/` and the run's numbers to
/// `OUT/train_summary.json`, which names the seed, size and settings that made them.
fn write_outputs(
    req: &FinetuneRequest,
    model: &Llama,
    adapter_cfg: &AdapterConfig,
    st: &LoopState,
    (examples, val_examples): (usize, usize),
    ck_root: &Path,
) -> Result<TrainSummary> {
    let out = req.out_dir.join(files::ADAPTER_DIR);
    let keep = req.settings.train.keep;
    let (kept, adapter_step) = outputs::write_adapter(&out, ck_root, model, adapter_cfg, keep, st)?;
    let summary = TrainSummary {
        examples,
        val_examples,
        tokens: st.tokens,
        answer_tokens: st.answer_tokens,
        steps: st.step,
        epochs: st.epoch,
        wall_time_s: st.elapsed_s,
        final_loss: st.last_loss,
        initial_val_loss: st.initial_val,
        final_val_loss: st.last_val,
        best_val_loss: st.best_val.map(|b| b.0),
        best_step: st.best_val.map(|b| b.1),
        kept,
        adapter_step,
        stopped_early: st.stopped_early,
        adapter_sha256: outputs::sha256_file(&out.join(WEIGHTS_FILE))?,
        seed: req.seed,
        size: req.size,
        config: req.settings.clone(),
    };
    finefail_core::atomic::write_json(&req.out_dir.join(files::TRAIN_SUMMARY), &summary)?;
    Ok(summary)
}
