//! Fused CPU kernels with hand-written backward passes (issue 9, BURN.md §9).
//!
//! Written with plain burn ops, a LoRA step spends its time in single-threaded elementwise ops that
//! autodiff splits softmax and friends into, and keeps every intermediate alive for the backward.
//! Each function here computes one of the decoder's numeric pieces as a single op on the CPU
//! (`flex`) device with its own backward, and falls back to the plain-ops path of [`crate::llama`] on
//! every other device (LibTorch, CUDA), for non-f32 tensors, or inside [`with_plain_kernels`]:
//!
//! | op | forward | what the backward keeps |
//! |---|---|---|
//! | [`rms_norm`] | `x·r·γ` | x, r = 1/rms per row |
//! | [`swiglu`] | `silu(g)⊙u` | g, u |
//! | [`rope`] | rotation | the cos/sin tables |
//! | [`attention`] | causal GQA, masked blocks skipped | q, k, v, log-sum-exp per row |
//! | [`token_nll`] | head + cross-entropy, 128 rows at a time | ∂loss/∂h (the logits never exist whole) |
//!
//! Tests compare values and gradients of each op with the plain path.

mod ext;
mod flex_io;
pub mod kernels;

use crate::llama;
use burn::backend::Dispatch;
use burn::tensor::activation::log_softmax;
use burn::tensor::{DType, Device, Int, Tensor, TensorData};
use ext::FusedOps;
use std::cell::Cell;

thread_local! {
    static PLAIN: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with the fused kernels switched off on this thread (the plain burn-ops path), for
/// comparisons in tests and `finefail bench --plain`.
pub fn with_plain_kernels<R>(f: impl FnOnce() -> R) -> R {
    let before = PLAIN.with(|p| p.replace(true));
    let out = f();
    PLAIN.with(|p| p.set(before));
    out
}

/// Whether the fused kernels serve tensors on `device` of type `dtype` on this thread.
pub fn active(device: &Device, dtype: DType) -> bool {
    !PLAIN.with(Cell::get) && dtype == DType::F32 && *device == Device::flex()
}

fn on<const D: usize>(t: &Tensor<D>) -> bool {
    active(&t.device(), t.dtype())
}

/// RMSNorm of the last dimension (see [`llama::rms_norm`]).
pub fn rms_norm(x: Tensor<3>, gamma: Tensor<1>, eps: f64) -> Tensor<3> {
    if !on(&x) {
        return llama::rms_norm(x, gamma, eps);
    }
    Tensor::from_dispatch(<Dispatch as FusedOps>::fused_rms_norm(
        x.into_dispatch(),
        gamma.into_dispatch(),
        eps,
    ))
}

/// `silu(gate) ⊙ up` (see [`llama::swiglu`]).
pub fn swiglu(gate: Tensor<3>, up: Tensor<3>) -> Tensor<3> {
    if !on(&gate) {
        return llama::swiglu(gate, up);
    }
    Tensor::from_dispatch(<Dispatch as FusedOps>::fused_swiglu(
        gate.into_dispatch(),
        up.into_dispatch(),
    ))
}

/// Rotary embedding (see [`llama::apply_rope`]); the result is laid out `[b, t, h, hd]` underneath,
/// which [`attention`] and the output projection read without copies.
pub fn rope(x: Tensor<4>, cos: Tensor<4>, sin: Tensor<4>) -> Tensor<4> {
    if !on(&x) {
        return llama::apply_rope(x, cos, sin);
    }
    Tensor::from_dispatch(<Dispatch as FusedOps>::fused_rope(
        x.into_dispatch(),
        cos.into_dispatch(),
        sin.into_dispatch(),
    ))
}

/// Causal grouped-query attention (see [`llama::attention_core`]). `mask` is the additive mask the
/// plain path uses; the fused kernel applies causality itself, so `causal_only` lets it skip the
/// mask entirely (training, unpadded prompts).
pub fn attention(
    q: Tensor<4>,
    k: Tensor<4>,
    v: Tensor<4>,
    mask: Tensor<4>,
    causal_only: bool,
) -> Tensor<4> {
    if !on(&q) {
        return llama::attention_core(q, k, v, mask);
    }
    let scale = 1.0 / (q.dims()[3] as f64).sqrt();
    let out = if causal_only {
        <Dispatch as FusedOps>::fused_attention(
            q.into_dispatch(),
            k.into_dispatch(),
            v.into_dispatch(),
            scale,
        )
    } else {
        <Dispatch as FusedOps>::fused_attention_masked(
            q.into_dispatch(),
            k.into_dispatch(),
            v.into_dispatch(),
            mask.into_dispatch(),
            scale,
        )
    };
    Tensor::from_dispatch(out)
}

/// Negative log-likelihood of `targets` under `softmax(hidden · w)`, one value per row of `hidden`
/// `[n, d]`, with `w` `[d, vocab]` the (frozen) output head. The fused path never holds more than 128
/// rows of logits; a trainable head takes the plain path.
pub fn token_nll(hidden: Tensor<2>, w: Tensor<2>, targets: &[i64]) -> Tensor<1> {
    let n = targets.len();
    if !on(&hidden) || w.is_require_grad() {
        let device = hidden.device();
        let t = Tensor::<2, Int>::from_data(TensorData::new(targets.to_vec(), [n, 1]), &device);
        return log_softmax(hidden.matmul(w), 1)
            .gather(1, t)
            .reshape([n])
            .neg();
    }
    Tensor::from_dispatch(<Dispatch as FusedOps>::fused_cross_entropy(
        hidden.into_dispatch(),
        w.into_dispatch(),
        targets.to_vec(),
    ))
}

/// `x · w` over the last dimension of `x` when `x` has at most [`kernels::rows::MAX_ROWS`] rows, on a
/// flex device without autodiff (decoding), spreading the pass over `w` across both cores; `None`
/// where it does not apply (the caller then multiplies as usual; nothing was computed). `w` must be
/// row-major or a transposed view of a row-major matrix.
pub fn linear_rows<const D: usize>(x: &Tensor<D>, w: &Tensor<2>) -> Option<Tensor<D>> {
    let mut dims = x.dims();
    let rows: usize = dims[..D - 1].iter().product();
    if rows > kernels::rows::MAX_ROWS || !on(x) || x.device().is_autodiff() {
        return None;
    }
    let x2 = x.clone().reshape([rows, dims[D - 1]]);
    let y: Tensor<2> = Tensor::from_dispatch(<Dispatch as FusedOps>::fused_linear_rows(
        x2.into_dispatch(),
        w.clone().into_dispatch(),
    ));
    dims[D - 1] = w.dims()[1];
    Some(y.reshape(dims))
}

#[cfg(test)]
mod tests;
