//! The training objective: answer-token cross-entropy. Only the answer positions reach the output
//! head (the hidden states of the loss positions are gathered first), so the `[positions × vocab]`
//! logits of the prompt are never computed.

use crate::adapter;
use crate::batching::micro_step_seed;
use crate::error::Result;
use crate::examples::Example;
use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData};
use finefail_model::attention_input::AttentionInput;
use finefail_model::llama::Llama;
use std::collections::BTreeMap;

/// The loss and summed adapter gradients of one effective batch, run as micro-batches of `micro`
/// examples. Each micro-batch's loss is divided by the answer tokens of the whole batch, so the
/// returned loss is the per-token mean over the batch and k micro-batches of b equal one batch of
/// k·b. Dropout is reseeded per micro-step from (seed, step, micro-step), so a resumed run draws the
/// same masks.
pub fn accumulate_grads(
    model: &Llama,
    batch: &[&Example],
    micro: usize,
    seed: u64,
    step: usize,
    pad: u32,
    device: &Device,
) -> Result<(f64, BTreeMap<String, Vec<f32>>)> {
    let answer_tokens: usize = batch.iter().map(|e| e.answer_len()).sum();
    let mut grads: Option<BTreeMap<String, Vec<f32>>> = None;
    let mut loss = 0.0;
    for (mi, mb) in batch.chunks(micro).enumerate() {
        device.seed(micro_step_seed(seed, step, mi));
        let l = micro_loss(model, mb, answer_tokens as f64, pad, device);
        loss += f64::from(l.clone().into_scalar::<f32>());
        let g = adapter::gradients(model, &l.backward())?;
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
    Ok((loss, grads.unwrap_or_default()))
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
