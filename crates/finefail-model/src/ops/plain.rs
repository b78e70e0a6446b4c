//! The decoder's numeric ops written with plain burn ops: the reference every device can run, and
//! what [`super`] falls back to wherever the fused kernels do not serve (other devices, other dtypes,
//! [`super::with_plain_kernels`]). Autodiff differentiates them op by op.

use burn::tensor::activation::{log_softmax, silu, softmax};
use burn::tensor::{Int, Tensor, TensorData};

/// RMSNorm: `x / sqrt(mean(x²) + eps) · γ` over the last dimension.
pub fn rms_norm(x: Tensor<3>, gamma: Tensor<1>, eps: f64) -> Tensor<3> {
    let inv_rms = x
        .clone()
        .powi_scalar(2)
        .mean_dim(2)
        .add_scalar(eps)
        .sqrt()
        .recip();
    x * inv_rms * gamma.unsqueeze::<3>()
}

/// SwiGLU gate: `silu(gate) ⊙ up`.
pub fn swiglu(gate: Tensor<3>, up: Tensor<3>) -> Tensor<3> {
    silu(gate) * up
}

/// Rotary embedding in Hugging Face's half-split layout: `x·cos + rotate_half(x)·sin`, where
/// `rotate_half([x₁, x₂]) = [-x₂, x₁]`. `x` is `[b, heads, t, hd]`, `cos`/`sin` `[b or 1, 1, t, hd]`.
pub fn rope(x: Tensor<4>, cos: Tensor<4>, sin: Tensor<4>) -> Tensor<4> {
    let hd = x.dims()[3];
    let x1 = x.clone().narrow(3, 0, hd / 2);
    let x2 = x.clone().narrow(3, hd / 2, hd / 2);
    let rotated = Tensor::cat(vec![x2.neg(), x1], 3);
    x * cos + rotated * sin
}

/// Scaled dot-product attention with grouped key/value heads.
///
/// `q` `[b, h, t, hd]`, `k`/`v` `[b, kvh, tk, hd]`, `mask` additive `[b or 1, 1, t, tk]` (0 = allowed,
/// -inf = blocked). Query head `j` reads key/value head `j / (h / kvh)`, as Hugging Face's
/// `repeat_kv`; the groups are folded into the query rows so keys and values are never copied.
pub fn attention(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>, mask: Tensor<4>) -> Tensor<4> {
    let [b, h, t, hd] = q.dims();
    let [_, kvh, tk, _] = k.dims();
    let g = h / kvh;
    let q = q
        .mul_scalar(1.0 / (hd as f64).sqrt())
        .reshape([b, kvh, g * t, hd]);
    let scores = q.matmul(k.swap_dims(2, 3)).reshape([b, kvh, g, t, tk]);
    let scores = scores + mask.unsqueeze_dim::<5>(2);
    let probs = softmax(scores, 4).reshape([b, kvh, g * t, tk]);
    probs.matmul(v).reshape([b, h, t, hd])
}

/// Output head + cross-entropy: `-log softmax(hidden · w)[target]` per row of `hidden` `[n, d]`,
/// with the whole `[n, vocab]` logits in memory.
pub fn head_cross_entropy(hidden: Tensor<2>, w: Tensor<2>, targets: &[i64]) -> Tensor<1> {
    let n = targets.len();
    let device = hidden.device();
    let t = Tensor::<2, Int>::from_data(TensorData::new(targets.to_vec(), [n, 1]), &device);
    log_softmax(hidden.matmul(w), 1)
        .gather(1, t)
        .reshape([n])
        .neg()
}
