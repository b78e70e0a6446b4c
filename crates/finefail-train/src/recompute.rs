//! Activation checkpointing (`train.gradient_checkpointing = true`): a micro-batch's backward that
//! keeps only each decoder layer's input, and recomputes the layer when its gradient is needed.
//!
//! 1. Forward, one layer at a time, without recording a graph (burn's autodiff keeps the saved
//!    state of recorded ops until a backward consumes them), keeping the layer inputs
//!    `h₀ … h_{L−1}` (each `[b, t, d]`).
//! 2. The head: `loss(norm(h_L))`, backward to `∂loss/∂h_L`.
//! 3. For `i = L−1 … 0`: run layer i again from `hᵢ` with autodiff, and back-propagate
//!    `sum(layerᵢ(hᵢ) ⊙ ∂loss/∂hᵢ₊₁)` — whose gradient with respect to the layer output is exactly
//!    `∂loss/∂hᵢ₊₁` — giving layer i's adapter gradients and `∂loss/∂hᵢ`.
//!
//! So at most one layer's activations (and, for a 16-bit or quantized base, one layer's f32 copy of
//! its weights) exist at a time, for one extra forward pass. The math is the plain backward's,
//! reordered. Dropout masks must repeat in step 3, so the RNG is reseeded per layer from the
//! micro-step's seed in both passes: with dropout > 0 the masks differ from an un-checkpointed run
//! (which draws all layers from one stream), with dropout 0 the gradients are the same. The same
//! burn API runs on every backend; burn's own `gradient_checkpointing()` only recomputes
//! memory-bound ops and has no per-block form (burn-autodiff 0.22, `checkpoint` strategies).

use crate::error::{Result, TrainError};
use crate::examples::Example;
use crate::micro_batch::MicroBatch;
use crate::optimizer::AdapterGrads;
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use finefail_model::attention_input::AttentionInput;
use finefail_model::llama::Llama;

/// The loss of one micro-batch (divided by `norm`; a detached `[1]` tensor, not read back) with
/// its adapter gradients added into `acc` (on `acc`'s path: host vectors or device tensors),
/// computed with one decoder layer's activations alive at a time. `dropout_seed` is the
/// micro-step's seed.
pub fn checkpointed_grads(
    model: &Llama,
    exs: &[&Example],
    norm: f64,
    pad: u32,
    dropout_seed: u64,
    device: &Device,
    acc: &mut AdapterGrads,
) -> Result<Tensor<1>> {
    let mb = MicroBatch::new(exs, pad, device);
    let ctx = model.layer_context(AttentionInput::causal(mb.t, 0, device), device);
    let layers = model.num_layers();

    // Pass 1 records no graph at all: the adapters are detached (`no_grad`), the input is not
    // tracked, and dropout still draws its masks (the device is an autodiff one).
    let untracked = model.clone().no_grad();
    let mut h = model.embed(mb.tokens.clone()).detach();
    let mut inputs = Vec::with_capacity(layers);
    for i in 0..layers {
        device.seed(layer_dropout_seed(dropout_seed, i));
        inputs.push(h.clone());
        h = untracked.forward_layer(i, h, &ctx);
    }
    drop(untracked);

    let top = h.require_grad();
    let loss = mb.loss_of_hidden(model, model.final_norm(top.clone()), norm);
    let loss_value = loss.clone().inner();
    let grads = loss.backward();
    let mut upstream = constant_grad(top.grad(&grads))?;

    // Each layer's adapters get their gradient from that layer's backward alone, so adding them
    // into `acc` layer by layer is the same sum as adding the micro-batch's gradients at once.
    for i in (0..layers).rev() {
        device.seed(layer_dropout_seed(dropout_seed, i));
        let x = inputs.pop().expect("one input per layer");
        let x = if i > 0 { x.require_grad() } else { x };
        let y = model.forward_layer(i, x.clone(), &ctx);
        let grads = (y * upstream.clone()).sum().backward();
        acc.add_backward(model, &grads, Some(i))?;
        if i > 0 {
            upstream = constant_grad(x.grad(&grads))?;
        }
    }
    Ok(loss_value)
}

/// The dropout seed of layer `i` within a micro-step (both passes use it).
fn layer_dropout_seed(micro_seed: u64, layer: usize) -> u64 {
    finefail_core::splitmix::mix64(
        micro_seed ^ (layer as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
    )
}

/// A gradient from a backward pass (a plain tensor) as an untracked constant on the autodiff
/// device, without leaving the device (no host copy, so no synchronization per layer on a GPU).
fn constant_grad(g: Option<Tensor<3>>) -> Result<Tensor<3>> {
    let g = g.ok_or_else(|| {
        TrainError::Other("activation checkpointing: no gradient reached a layer input".into())
    })?;
    Ok(Tensor::from_inner(g))
}
