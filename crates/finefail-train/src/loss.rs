//! The training objective: answer-token cross-entropy. Only the answer positions reach the output
//! head (the hidden states of the loss positions are gathered first), so the `[positions × vocab]`
//! logits of the prompt are never computed.

use crate::batching::micro_step_seed;
use crate::error::Result;
use crate::examples::Example;
use crate::micro_batch::MicroBatch;
use crate::optimizer::{AdapterGrads, BatchGrads, OptimizerPath};
use crate::recompute::checkpointed_grads;
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use finefail_model::attention_input::AttentionInput;
use finefail_model::llama::Llama;
use std::collections::BTreeMap;

/// The loss and summed adapter gradients of one effective batch, run as micro-batches of `micro`
/// examples. Each micro-batch's loss is divided by the answer tokens of the whole batch, so the
/// returned loss is the per-token mean over the batch and k micro-batches of b equal one batch of
/// k·b. Dropout is reseeded per micro-step from (seed, step, micro-step), so a resumed run draws the
/// same masks. With `checkpointing`, each micro-batch runs through [`checkpointed_grads`].
/// The host path's result: [`batch_grads`] on [`OptimizerPath::Host`], the loss read back.
#[allow(clippy::too_many_arguments)] // the recipe's loop state, passed as it is
pub fn accumulate_grads(
    model: &Llama,
    batch: &[&Example],
    micro: usize,
    seed: u64,
    step: usize,
    pad: u32,
    checkpointing: bool,
    device: &Device,
) -> Result<(f64, BTreeMap<String, Vec<f32>>)> {
    let b = batch_grads(
        model,
        batch,
        micro,
        seed,
        step,
        pad,
        checkpointing,
        device,
        OptimizerPath::Host,
    )?;
    Ok((b.loss(), b.grads.into_host()?))
}

/// As [`accumulate_grads`], with the gradients summed on `path` (on the device path nothing is
/// read back: the micro-batch losses stay `[1]` tensors and the gradients device tensors).
#[allow(clippy::too_many_arguments)] // the recipe's loop state, passed as it is
pub fn batch_grads(
    model: &Llama,
    batch: &[&Example],
    micro: usize,
    seed: u64,
    step: usize,
    pad: u32,
    checkpointing: bool,
    device: &Device,
    path: OptimizerPath,
) -> Result<BatchGrads> {
    let answer_tokens: usize = batch.iter().map(|e| e.answer_len()).sum();
    let mut grads = AdapterGrads::new(path);
    let mut losses = Vec::new();
    for (mi, mb) in batch.chunks(micro).enumerate() {
        let micro_seed = micro_step_seed(seed, step, mi);
        if checkpointing {
            let norm = answer_tokens as f64;
            let l = checkpointed_grads(model, mb, norm, pad, micro_seed, device, &mut grads)?;
            losses.push(l);
        } else {
            device.seed(micro_seed);
            let l = micro_loss(model, mb, answer_tokens as f64, pad, device);
            losses.push(l.clone().inner());
            grads.add_backward(model, &l.backward(), None)?;
        }
    }
    Ok(BatchGrads { losses, grads })
}

/// Sum of answer-token cross-entropies of one micro-batch, divided by `norm` (a `[1]` tensor).
pub fn micro_loss(
    model: &Llama,
    exs: &[&Example],
    norm: f64,
    pad: u32,
    device: &Device,
) -> Tensor<1> {
    let mb = MicroBatch::new(exs, pad, device);
    let hidden = model.forward_hidden(mb.tokens.clone(), &AttentionInput::causal(mb.t, 0, device));
    mb.loss_of_hidden(model, hidden, norm)
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
