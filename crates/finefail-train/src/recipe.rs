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
//!    batch of k·b; then global-norm clipping, the scheduled learning rate and AdamW ([`crate::adamw`]);
//! 4. validation every epoch (or `eval_every` steps) and at the last step; early stopping; the best
//!    adapter kept aside when `keep = "best"`;
//! 5. checkpoints every `checkpoint_every` steps and at the end ([`crate::checkpoint`]); `resume`
//!    continues from the last complete one after checking it belongs to the same run;
//! 6. outputs, each written atomically: `OUT/adapter/` (PEFT), `OUT/metrics.jsonl`, `OUT/train_summary.json`.
//!
//! Only the answer positions reach the output head (the hidden states of the loss positions are
//! gathered first), so the `[positions × vocab]` logits of the prompt are never computed.

use crate::adamw::{clip_global_norm, AdamWParams, AdamWState};
use crate::batching::{micro_step_seed, plan_epoch, Rng};
use crate::checkpoint::{self, LoopState};
use crate::config::FinetuneSettings;
use crate::error::{Result, TrainError};
use crate::examples::{build_examples, Example};
use crate::schedule::Schedule;
use crate::{adapter, outputs};
use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData};
use finefail_data::prepare::files;
use finefail_model::attention_input::AttentionInput;
use finefail_model::chat::ChatTemplate;
use finefail_model::llama::Llama;
use finefail_model::peft::AdapterConfig;
use finefail_model::tokenizer::Tokenizer;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Everything one fine-tuning run needs (the runner and the CLI fill it).
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
    /// Testing aid: return [`TrainError::Interrupted`] right after this optimizer step, as if killed.
    pub stop_after_step: Option<usize>,
}

impl FinetuneRequest {
    /// A request with default settings, top-k 3, CPU, no resume.
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
            stop_after_step: None,
        }
    }
}

/// One optimizer step's numbers (a `metrics.jsonl` row with `"kind": "train"`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepMetrics {
    /// Optimizer step (1-based).
    pub step: usize,
    /// Total optimizer steps of the run.
    pub total_steps: usize,
    /// Epoch (1-based).
    pub epoch: usize,
    /// Per-token mean cross-entropy over the batch's answer tokens.
    pub loss: f64,
    /// Learning rate used by this step.
    pub lr: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Tokens (prompt + answer) in the batch.
    pub tokens: usize,
    /// Tokens per second of this step.
    pub tokens_per_s: f64,
    /// Training seconds so far (across resumes).
    pub elapsed_s: f64,
}

/// What the recipe reports while it runs (the binary draws a progress bar from these).
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

/// `train_summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainSummary {
    /// Training examples.
    pub examples: usize,
    /// Validation examples.
    pub val_examples: usize,
    /// Tokens (prompt + answer) processed, all steps.
    pub tokens: u64,
    /// Answer tokens (loss targets) processed.
    pub answer_tokens: u64,
    /// Optimizer steps done.
    pub steps: usize,
    /// Epochs started.
    pub epochs: usize,
    /// Training seconds (across resumes).
    pub wall_time_s: f64,
    /// Loss of the last step.
    pub final_loss: Option<f64>,
    /// Last validation loss.
    pub final_val_loss: Option<f64>,
    /// Lowest validation loss.
    pub best_val_loss: Option<f64>,
    /// Step of the lowest validation loss.
    pub best_step: Option<usize>,
    /// Which adapter `OUT/adapter` holds: `best` or `last`.
    pub kept: String,
    /// The step of the adapter in `OUT/adapter`.
    pub adapter_step: usize,
    /// True when early stopping ended the run.
    pub stopped_early: bool,
    /// sha256 of `OUT/adapter/adapter_model.safetensors`.
    pub adapter_sha256: String,
    /// Seed, size and settings of the run.
    pub seed: u64,
    /// Training subset size.
    pub size: usize,
    /// The settings.
    pub config: FinetuneSettings,
}

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
    let ck_root = req.out_dir.join("checkpoints");

    // 1. Examples.
    let records: HashMap<String, finefail_data::QaRecord> =
        finefail_data::tables::read_qa(&req.data_dir.join(files::QA))?
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect();
    let splits = finefail_data::Splits::load(&req.data_dir.join(files::SPLITS))?;
    let train_ids = splits.train_subset(req.seed, req.size)?;
    let contexts = match s.train.format.as_str() {
        "rag" => Some(outputs::load_contexts(req)?),
        _ => None,
    };
    let tokenizer = Tokenizer::from_dir(&req.model_dir)?;
    let template = ChatTemplate::from_dir(&req.model_dir)?;
    let max_len = s.train.max_seq_len;
    let train = build_examples(
        &train_ids,
        &records,
        contexts.as_ref(),
        &template,
        &tokenizer,
        max_len,
    )?;
    let val = build_examples(
        &splits.val,
        &records,
        contexts.as_ref(),
        &template,
        &tokenizer,
        max_len,
    )?;
    let pad = tokenizer.pad_token_id();

    // 2. Model.
    let device = finefail_model::device::parse_device(&req.device)?.autodiff();
    let mut model = Llama::load(&req.model_dir, &device)?;
    model.attach_lora(&s.lora_config(req.seed))?;
    let adapter_cfg =
        AdapterConfig::new(&s.lora_config(req.seed), &req.model_dir.to_string_lossy());
    let fingerprint = fingerprint(req, &train, &val)?;

    // Steps and schedule.
    let batch = s.train.batch_size;
    let steps_per_epoch = train.len().div_ceil(batch);
    let total_steps = s
        .train
        .max_steps
        .unwrap_or(s.train.epochs * steps_per_epoch);
    let schedule = Schedule::new(
        s.train.lr,
        &s.train.schedule,
        s.train.warmup_ratio,
        total_steps,
    );
    let hp = AdamWParams {
        betas: s.train.betas,
        eps: s.train.eps,
        weight_decay: s.train.weight_decay,
    };
    let settings_json = serde_json::to_value(s).map_err(|e| TrainError::Other(e.to_string()))?;

    // Fresh start or resume.
    checkpoint::clean_partial(&ck_root)?;
    let existing = checkpoint::list(&ck_root)?;
    let (mut st, mut adam) = if req.resume && !existing.is_empty() {
        let (step, dir) = &existing[existing.len() - 1];
        let (st, adam) = checkpoint::load(dir)?;
        if st.fingerprint != fingerprint {
            return Err(mismatch(dir, &st.settings, &settings_json));
        }
        finefail_model::peft::load_adapter(&mut model, &dir.join(checkpoint::ADAPTER_DIR))?;
        debug_assert_eq!(*step, st.step);
        (st, adam)
    } else {
        if !existing.is_empty() {
            return Err(TrainError::bad_input(
                &ck_root,
                "checkpoints of an earlier run are here: pass --resume to continue it, or choose another --out",
            ));
        }
        let st = LoopState {
            fingerprint: fingerprint.clone(),
            settings: settings_json.clone(),
            step: 0,
            epoch: 0,
            cursor: 0,
            plan: Vec::new(),
            rng_state: Rng::new(req.seed ^ 0x5348_5546_464C_4521).state,
            best_val: None,
            bad_evals: 0,
            stopped_early: false,
            tokens: 0,
            answer_tokens: 0,
            elapsed_s: 0.0,
            last_loss: None,
            last_val: None,
        };
        (st, AdamWState::default())
    };
    let mut metrics =
        outputs::Metrics::open(&req.out_dir.join("metrics.jsonl"), st.step, req.resume)?;
    progress(&Event::Started {
        examples: train.len(),
        val_examples: val.len(),
        start_step: st.step,
        total_steps,
    });

    // 3–5. The loop.
    let lengths: Vec<usize> = train.iter().map(|e| e.tokens.len()).collect();
    let micro = s.micro_batch();
    let clock = Instant::now();
    let elapsed_before = st.elapsed_s;
    while st.step < total_steps && !st.stopped_early {
        if st.cursor >= st.plan.len() {
            let mut rng = Rng {
                state: st.rng_state,
            };
            st.plan = plan_epoch(&lengths, batch, &mut rng);
            st.rng_state = rng.state;
            st.cursor = 0;
            st.epoch += 1;
        }
        let t0 = Instant::now();
        let batch_ex: Vec<&Example> = st.plan[st.cursor].iter().map(|&i| &train[i]).collect();
        let answer_tokens: usize = batch_ex.iter().map(|e| e.answer_len()).sum();
        let tokens: usize = batch_ex.iter().map(|e| e.tokens.len()).sum();
        let mut grads: Option<std::collections::BTreeMap<String, Vec<f32>>> = None;
        let mut loss = 0.0;
        for (mi, mb) in batch_ex.chunks(micro).enumerate() {
            device.seed(micro_step_seed(req.seed, st.step, mi));
            let l = micro_loss(&model, mb, answer_tokens as f64, pad, &device);
            loss += f64::from(l.clone().into_scalar::<f32>());
            let g = adapter::gradients(&model, &l.backward())?;
            match grads.as_mut() {
                None => grads = Some(g),
                Some(acc) => {
                    for (k, v) in g {
                        if let Some(a) = acc.get_mut(&k) {
                            a.iter_mut().zip(v).for_each(|(x, y)| *x += y);
                        }
                    }
                }
            }
        }
        let mut grads = grads.unwrap_or_default();
        if !loss.is_finite() {
            return Err(TrainError::Other(format!(
                "loss became {loss} at step {}",
                st.step + 1
            )));
        }
        let grad_norm = clip_global_norm(&mut grads, s.train.max_grad_norm);
        let lr = schedule.lr_at(st.step);
        let mut params = adapter::values(&model)?;
        adam.step(&hp, lr, &mut params, &grads);
        adapter::set_values(&mut model, &params, s.lora.dropout, &device)?;
        st.step += 1;
        st.cursor += 1;
        st.tokens += tokens as u64;
        st.answer_tokens += answer_tokens as u64;
        st.last_loss = Some(loss);
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

        let epoch_end = st.cursor >= st.plan.len();
        let last = st.step == total_steps;
        let due = match s.train.eval_every {
            Some(k) => st.step % k == 0,
            None => epoch_end,
        };
        if !val.is_empty() && (due || last) {
            let v = validation_loss(&model, &val, micro, pad, &device);
            st.last_val = Some(v);
            let better = st.best_val.is_none_or(|(b, _)| v < b);
            if better {
                st.best_val = Some((v, st.step));
                st.bad_evals = 0;
                if s.train.keep == "best" {
                    let dir = checkpoint::best_dir(&ck_root, st.step);
                    finefail_model::peft::save_adapter(&model, &dir, &adapter_cfg)?;
                }
            } else {
                st.bad_evals += 1;
                if s.train
                    .early_stop_patience
                    .is_some_and(|p| st.bad_evals >= p)
                {
                    st.stopped_early = true;
                }
            }
            metrics.push_val(st.step, st.epoch, v, better)?;
            progress(&Event::Eval {
                step: st.step,
                val_loss: v,
            });
        }
        let ck_due = s.train.checkpoint_every > 0 && st.step % s.train.checkpoint_every == 0;
        if ck_due || last || st.stopped_early {
            checkpoint::save(&ck_root, &model, &adapter_cfg, &adam, &st)?;
            checkpoint::prune_best(&ck_root, st.best_val.map(|b| b.1))?;
            progress(&Event::Checkpoint { step: st.step });
        }
        if req.stop_after_step == Some(st.step) {
            return Err(TrainError::Interrupted { step: st.step });
        }
    }

    // 6. Outputs.
    outputs::finish(
        req,
        &model,
        &adapter_cfg,
        &st,
        train.len(),
        val.len(),
        &ck_root,
    )
}

/// Sum of answer-token cross-entropies of one micro-batch, divided by `norm` (a `[1]` tensor).
///
/// Rows are right-padded to the longest example (causal attention never lets a real token see the
/// padding after it); inputs are `tokens[..len−1]` and position `i` predicts `tokens[i+1]` for the
/// answer positions only.
pub fn micro_loss(
    model: &Llama,
    exs: &[&Example],
    norm: f64,
    pad: u32,
    device: &Device,
) -> Tensor<1> {
    let t = exs
        .iter()
        .map(|e| e.tokens.len() - 1)
        .max()
        .unwrap_or(1)
        .max(1);
    let b = exs.len();
    let mut ids = vec![i64::from(pad); b * t];
    let (mut rows, mut targets) = (Vec::new(), Vec::new());
    for (r, e) in exs.iter().enumerate() {
        for (i, &tok) in e.tokens[..e.tokens.len() - 1].iter().enumerate() {
            ids[r * t + i] = i64::from(tok);
        }
        for i in e.prompt_len - 1..e.tokens.len() - 1 {
            rows.push((r * t + i) as i64);
            targets.push(i64::from(e.tokens[i + 1]));
        }
    }
    let n = rows.len();
    let d = model.config.hidden_size;
    let tokens = Tensor::<2, Int>::from_data(TensorData::new(ids, [b, t]), device);
    let hidden = model.forward_hidden(tokens, &AttentionInput::causal(t, 0, device), None);
    let rows = Tensor::<1, Int>::from_data(TensorData::new(rows, [n]), device);
    let h = hidden.reshape([b * t, d]).select(0, rows);
    finefail_model::ops::head_cross_entropy(h, model.output_weight(), &targets)
        .sum()
        .div_scalar(norm)
}

/// Per-token mean cross-entropy over every answer token of `val` (no gradients, no dropout).
pub fn validation_loss(
    model: &Llama,
    val: &[Example],
    micro: usize,
    pad: u32,
    device: &Device,
) -> f64 {
    let plain = model.valid();
    let dev = device.clone().without_autodiff();
    let mut order: Vec<&Example> = val.iter().collect();
    order.sort_by_key(|e| std::cmp::Reverse(e.tokens.len()));
    let total: usize = order.iter().map(|e| e.answer_len()).sum();
    let mut sum = 0.0;
    for mb in order.chunks(micro) {
        let l = micro_loss(&plain, mb, 1.0, pad, &dev);
        sum += f64::from(l.into_scalar::<f32>());
    }
    sum / total.max(1) as f64
}

/// sha256 over everything that decides the adapter: settings, seed, size, top-k, the tokenized
/// training and validation examples, and the base model's config and weight file sizes.
fn fingerprint(req: &FinetuneRequest, train: &[Example], val: &[Example]) -> Result<String> {
    let mut h = Sha256::new();
    let settings =
        serde_json::to_string(&req.settings).map_err(|e| TrainError::Other(e.to_string()))?;
    h.update(settings.as_bytes());
    h.update(
        format!(
            "|seed={}|size={}|top_k={}|",
            req.seed, req.size, req.rag_top_k
        )
        .as_bytes(),
    );
    for (tag, set) in [("train", train), ("val", val)] {
        h.update(tag.as_bytes());
        for e in set {
            h.update(e.id.as_bytes());
            h.update(e.prompt_len.to_le_bytes());
            for t in &e.tokens {
                h.update(t.to_le_bytes());
            }
        }
    }
    let cfg = req.model_dir.join("config.json");
    h.update(std::fs::read(&cfg).map_err(|e| TrainError::io(&cfg, e))?);
    if let Ok(entries) = std::fs::read_dir(&req.model_dir) {
        let mut sizes: Vec<(String, u64)> = entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".safetensors"))
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    e.metadata().map(|m| m.len()).unwrap_or(0),
                )
            })
            .collect();
        sizes.sort();
        h.update(format!("{sizes:?}").as_bytes());
    }
    Ok(hex::encode(h.finalize()))
}

/// The refusal to resume a checkpoint of another run, naming the settings that differ.
fn mismatch(dir: &Path, old: &serde_json::Value, new: &serde_json::Value) -> TrainError {
    let mut diffs = Vec::new();
    for table in ["train", "lora"] {
        if let (Some(o), Some(n)) = (old[table].as_object(), new[table].as_object()) {
            for (k, v) in n {
                if o.get(k) != Some(v) {
                    diffs.push(format!(
                        "{table}.{k}: {} → {}",
                        o.get(k).unwrap_or(&serde_json::Value::Null),
                        v
                    ));
                }
            }
        }
    }
    let what = if diffs.is_empty() {
        "the data, seed, size, chat template or base model differ".to_string()
    } else {
        format!("settings differ ({})", diffs.join(", "))
    };
    TrainError::bad_input(
        dir,
        format!("cannot resume: this checkpoint belongs to another run: {what}; use a fresh --out or the original settings"),
    )
}
