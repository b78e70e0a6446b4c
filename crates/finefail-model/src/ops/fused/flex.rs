//! The flex side of [`FusedOps`]: forward passes that feed the kernels a `FlexTensor`'s storage and
//! wrap their results back into tensors, shared with `super::autodiff`, and the trait's
//! implementation for `Flex` (inference, no autodiff).

use super::flex_io::{contiguous, dims, mat2, readable4, strided4, swapped12, tensor, values};
use super::kernels::{
    attention, head_cross_entropy, linear_rows, rms_norm, rope, swiglu, Strided4,
};
use super::FusedOps;
use burn::backend::flex::FlexTensor;
use burn::backend::Flex;

/// RMSNorm forward: `(y, x, r)` with `x` contiguous and `r` = 1/rms per row (the backward's state).
pub(super) fn rms_norm_forward(
    x: &FlexTensor,
    gamma: &FlexTensor,
    eps: f64,
) -> (FlexTensor, FlexTensor, FlexTensor) {
    let (x, gamma) = (contiguous(x), contiguous(gamma));
    let (y, r) = rms_norm::forward(values(&x), values(&gamma), eps);
    let n = r.len();
    (tensor(y, &dims(&x)), x, tensor(r, &[n]))
}

/// SwiGLU forward: `(y, g, u)` with `g` and `u` contiguous (the backward's state).
pub(super) fn swiglu_forward(
    g: &FlexTensor,
    u: &FlexTensor,
) -> (FlexTensor, FlexTensor, FlexTensor) {
    let (g, u) = (contiguous(g), contiguous(u));
    let y = swiglu::forward(values(&g), values(&u));
    (tensor(y, &dims(&g)), g, u)
}

/// Rotary embedding of `x` (logical `[b, h, t, hd]`), written `[b, t, h, hd]` underneath.
pub(super) fn rope_forward(x: &FlexTensor, cos: &FlexTensor, sin: &FlexTensor) -> FlexTensor {
    rotate(x, cos, sin, rope::forward)
}

/// The rotary embedding's backward: `dx` of `dy`, laid out like [`rope_forward`]'s output.
pub(super) fn rope_backward(dy: &FlexTensor, cos: &FlexTensor, sin: &FlexTensor) -> FlexTensor {
    rotate(dy, cos, sin, rope::backward)
}

/// Runs a rotary `kernel` (forward or backward) over `x` with contiguous tables.
fn rotate(
    x: &FlexTensor,
    cos: &FlexTensor,
    sin: &FlexTensor,
    kernel: fn(&Strided4, &[f32], &[f32], usize) -> Vec<f32>,
) -> FlexTensor {
    let x = readable4(x);
    let view = strided4(&x);
    let cb = dims(cos)[0];
    let (cos, sin) = (contiguous(cos), contiguous(sin));
    let out = kernel(&view, values(&cos), values(&sin), cb);
    let [b, h, t, hd] = view.shape;
    swapped12(out, [b, t, h, hd])
}

/// The kernel's view of an optional contiguous additive mask `[mb, 1, t, tk]`.
pub(super) fn mask_of(mask: &Option<FlexTensor>) -> Option<attention::Mask<'_>> {
    mask.as_ref().map(|m| attention::Mask {
        values: values(m),
        batches: dims(m)[0],
    })
}

/// Attention forward: the output (written `[b, t, h, hd]` underneath) and the log-sum-exp per
/// query row `[b, h, t]`. `mask`, when given, must be contiguous.
pub(super) fn attention_forward(
    q: &FlexTensor,
    k: &FlexTensor,
    v: &FlexTensor,
    mask: &Option<FlexTensor>,
    scale: f64,
) -> (FlexTensor, FlexTensor) {
    let (q, k, v) = (readable4(q), readable4(k), readable4(v));
    let (qv, kv, vv) = (strided4(&q), strided4(&k), strided4(&v));
    let (o, lse) = attention::forward(&qv, &kv, &vv, mask_of(mask), scale as f32);
    let [b, h, t, hd] = qv.shape;
    (swapped12(o, [b, t, h, hd]), tensor(lse, &[b, h, t]))
}

/// Head + cross-entropy forward: per-row losses `[n]`, and `∂loss_i/∂h_i` `[n, d]` when `want_grad`.
pub(super) fn head_cross_entropy_forward(
    h: &FlexTensor,
    w: &FlexTensor,
    targets: &[i64],
    want_grad: bool,
) -> (FlexTensor, Option<FlexTensor>) {
    let h = contiguous(h);
    let hd = dims(&h);
    let d = hd[1];
    let (losses, dh) = head_cross_entropy::forward(values(&h), d, mat2(w), targets, want_grad);
    (tensor(losses, &[targets.len()]), dh.map(|g| tensor(g, &hd)))
}

impl FusedOps for Flex {
    fn rms_norm(x: FlexTensor, gamma: FlexTensor, eps: f64) -> FlexTensor {
        rms_norm_forward(&x, &gamma, eps).0
    }
    fn swiglu(g: FlexTensor, u: FlexTensor) -> FlexTensor {
        swiglu_forward(&g, &u).0
    }
    fn rope(x: FlexTensor, cos: FlexTensor, sin: FlexTensor) -> FlexTensor {
        rope_forward(&x, &cos, &sin)
    }
    fn attention(q: FlexTensor, k: FlexTensor, v: FlexTensor, scale: f64) -> FlexTensor {
        attention_forward(&q, &k, &v, &None, scale).0
    }
    fn attention_masked(
        q: FlexTensor,
        k: FlexTensor,
        v: FlexTensor,
        mask: FlexTensor,
        scale: f64,
    ) -> FlexTensor {
        attention_forward(&q, &k, &v, &Some(contiguous(&mask)), scale).0
    }
    fn head_cross_entropy(h: FlexTensor, w: FlexTensor, targets: Vec<i64>) -> FlexTensor {
        head_cross_entropy_forward(&h, &w, &targets, false).0
    }
    fn linear_rows(x: FlexTensor, w: FlexTensor) -> FlexTensor {
        let x = contiguous(&x);
        let n = dims(&x)[0];
        let s = w.layout().strides();
        let w = if s[0] == 1 || s[1] == 1 {
            w
        } else {
            contiguous(&w)
        };
        let wm = mat2(&w);
        let out = wm.cols;
        tensor(linear_rows::forward(values(&x), n, wm), &[n, out])
    }
}
