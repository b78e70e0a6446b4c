//! The decoder's numeric ops, one function per op, each choosing how it is computed.
//!
//! Written with plain burn ops, a LoRA step spends its time in single-threaded elementwise ops that
//! autodiff splits softmax and friends into, and keeps every intermediate alive for the backward.
//! So on the CPU (`flex`) device, for f32 tensors, each op runs as one fused kernel with its own
//! backward (`fused`); everywhere else (LibTorch, CUDA, other dtypes, or inside
//! [`with_plain_kernels`]) it runs the plain burn ops of `plain`, which autodiff differentiates.
//!
//! | op | forward | what the fused backward keeps |
//! |---|---|---|
//! | `rms_norm` | `x·r·γ` | x, r = 1/rms per row |
//! | `swiglu` | `silu(g)⊙u` | g, u |
//! | `rope` | rotation | the cos/sin tables |
//! | `attention` | causal GQA, masked blocks skipped | q, k, v, log-sum-exp per row |
//! | [`head_cross_entropy`] | head + cross-entropy, 128 rows at a time | ∂loss/∂h (the logits never exist whole) |
//! | `linear_rows` | `x · w` for a few rows (decoding) | — (inference only) |
//!
//! Off the CPU two ops have paths of their own: a frozen head runs [`chunked_head`] (generic burn
//! ops, a chunk of rows at a time in the head's dtype, keeping only ∂loss/∂h), and on LibTorch
//! devices causal training attention runs LibTorch's fused kernels with their own backward
//! (`torch_attention`, feature `tch`: q, k, v, the output and the log-sum-exp kept).
//!
//! Tests compare values and gradients of each fused op with its plain path.

pub mod chunked_head;
mod fused;
mod plain;
#[cfg(feature = "tch")]
#[allow(deprecated)] // burn's LibTorch backend is deprecated upstream; the `tch` feature opts in
mod torch_attention;

use burn::tensor::{DType, Device, Tensor};
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

/// RMSNorm of the last dimension: `x / sqrt(mean(x²) + eps) · γ`.
pub(crate) fn rms_norm(x: Tensor<3>, gamma: Tensor<1>, eps: f64) -> Tensor<3> {
    if on(&x) {
        fused::rms_norm(x, gamma, eps)
    } else {
        plain::rms_norm(x, gamma, eps)
    }
}

/// The SwiGLU gate `silu(gate) ⊙ up`.
pub(crate) fn swiglu(gate: Tensor<3>, up: Tensor<3>) -> Tensor<3> {
    if on(&gate) {
        fused::swiglu(gate, up)
    } else {
        plain::swiglu(gate, up)
    }
}

/// Rotary embedding of `x` `[b, heads, t, hd]` with `cos`/`sin` `[b or 1, 1, t, hd]` (Hugging Face's
/// half-split layout). The fused result is laid out `[b, t, h, hd]` underneath, which `attention`
/// and the output projection read without copies.
pub(crate) fn rope(x: Tensor<4>, cos: Tensor<4>, sin: Tensor<4>) -> Tensor<4> {
    if on(&x) {
        fused::rope(x, cos, sin)
    } else {
        plain::rope(x, cos, sin)
    }
}

/// Causal grouped-query attention of `q` `[b, h, t, hd]` over `k`/`v` `[b, kvh, tk, hd]`. `mask` is
/// the additive mask `[b or 1, 1, t, tk]` the plain path uses; the fused kernel applies causality
/// itself, so `causal_only` lets it skip the mask entirely (training, unpadded prompts). On LibTorch
/// CPU/CUDA devices under autodiff, a `causal_only` call runs LibTorch's fused kernels with their
/// own backward (`torch_attention`, feature `tch`), keeping nothing of size t².
pub(crate) fn attention(
    q: Tensor<4>,
    k: Tensor<4>,
    v: Tensor<4>,
    mask: Tensor<4>,
    causal_only: bool,
) -> Tensor<4> {
    if on(&q) {
        return fused::attention(q, k, v, (!causal_only).then_some(mask));
    }
    #[cfg(feature = "tch")]
    if causal_only && !PLAIN.with(Cell::get) && torch_attention::serves(&q, &k) {
        return torch_attention::attention(q, k, v);
    }
    plain::attention(q, k, v, mask)
}

/// Negative log-likelihood of `targets` under `softmax(hidden · w)`, one value per row of `hidden`
/// `[n, d]`, with `w` `[d, vocab]` the (frozen) output head. The fused path never holds more than 128
/// rows of logits, the chunked one ([`chunked_head`], every other device) one chunk in `w`'s dtype;
/// a trainable head takes the plain path.
pub fn head_cross_entropy(hidden: Tensor<2>, w: Tensor<2>, targets: &[i64]) -> Tensor<1> {
    if w.is_require_grad() {
        plain::head_cross_entropy(hidden, w, targets)
    } else if on(&hidden) {
        fused::head_cross_entropy(hidden, w, targets)
    } else {
        chunked_head::head_cross_entropy(hidden, w, targets)
    }
}

/// `x · w` over the last dimension of `x` when `x` has at most
/// [`fused::kernels::linear_rows::MAX_ROWS`] rows, on a flex device without autodiff (decoding),
/// spreading the pass over `w` across both cores; `None` where it does not apply (the caller then
/// multiplies as usual; nothing was computed). `w` must be row-major or a transposed view of a
/// row-major matrix.
pub(crate) fn linear_rows<const D: usize>(x: &Tensor<D>, w: &Tensor<2>) -> Option<Tensor<D>> {
    let rows: usize = x.dims()[..D - 1].iter().product();
    if rows > fused::kernels::linear_rows::MAX_ROWS || !on(x) || x.device().is_autodiff() {
        return None;
    }
    Some(fused::linear_rows(x.clone(), w.clone()))
}
