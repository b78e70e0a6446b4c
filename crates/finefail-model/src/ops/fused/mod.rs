//! The fused CPU ops as a burn backend extension ([`FusedOps`]), and their tensor-level entry
//! points, which [`super`] calls for f32 tensors on the flex device.
//!
//! [`kernels`] compute on plain `f32` slices. `flex` implements [`FusedOps`] for `Flex` (forward
//! only), feeding the kernels tensor storage through `flex_io`; `autodiff` implements it for
//! `Autodiff<Flex>` (the same forward plus a hand-written backward per op). Other backends never
//! reach the trait: the dispatch functions in [`super`] route them to the plain path.

mod autodiff;
mod flex;
mod flex_io;
pub(super) mod kernels;

use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Backend, Dispatch};
use burn::tensor::Tensor;

/// The fused ops, one method per op of [`super`] (same names, same semantics).
#[backend_extension(Flex, Autodiff)]
pub trait FusedOps: Backend {
    /// RMSNorm of the last dimension.
    fn rms_norm(x: FloatTensor<Self>, gamma: FloatTensor<Self>, eps: f64) -> FloatTensor<Self>;
    /// `silu(g) ⊙ u`.
    fn swiglu(g: FloatTensor<Self>, u: FloatTensor<Self>) -> FloatTensor<Self>;
    /// Rotary embedding of `[b, h, t, hd]` with `[cb, 1, t, hd]` tables.
    fn rope(
        x: FloatTensor<Self>,
        cos: FloatTensor<Self>,
        sin: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
    /// Causal GQA attention.
    fn attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        scale: f64,
    ) -> FloatTensor<Self>;
    /// Causal GQA attention with an additive `[mb, 1, t, tk]` mask.
    fn attention_masked(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        mask: FloatTensor<Self>,
        scale: f64,
    ) -> FloatTensor<Self>;
    /// Per-row cross-entropy of `h · w` against `targets` (`[n]`), `w` frozen.
    fn head_cross_entropy(
        h: FloatTensor<Self>,
        w: FloatTensor<Self>,
        targets: Vec<i64>,
    ) -> FloatTensor<Self>;
    /// `x · w` for a few rows of `x` `[n, in]` (inference).
    fn linear_rows(x: FloatTensor<Self>, w: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// Fused [`super::rms_norm`].
pub fn rms_norm(x: Tensor<3>, gamma: Tensor<1>, eps: f64) -> Tensor<3> {
    Tensor::from_dispatch(<Dispatch as FusedOps>::rms_norm(
        x.into_dispatch(),
        gamma.into_dispatch(),
        eps,
    ))
}

/// Fused [`super::swiglu`].
pub fn swiglu(gate: Tensor<3>, up: Tensor<3>) -> Tensor<3> {
    Tensor::from_dispatch(<Dispatch as FusedOps>::swiglu(
        gate.into_dispatch(),
        up.into_dispatch(),
    ))
}

/// Fused [`super::rope`]; the result is laid out `[b, t, h, hd]` underneath.
pub fn rope(x: Tensor<4>, cos: Tensor<4>, sin: Tensor<4>) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as FusedOps>::rope(
        x.into_dispatch(),
        cos.into_dispatch(),
        sin.into_dispatch(),
    ))
}

/// Fused [`super::attention`]: causal, and further masked by `mask` when there is one (padding).
pub fn attention(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>, mask: Option<Tensor<4>>) -> Tensor<4> {
    let scale = 1.0 / (q.dims()[3] as f64).sqrt();
    let out = match mask {
        None => <Dispatch as FusedOps>::attention(
            q.into_dispatch(),
            k.into_dispatch(),
            v.into_dispatch(),
            scale,
        ),
        Some(mask) => <Dispatch as FusedOps>::attention_masked(
            q.into_dispatch(),
            k.into_dispatch(),
            v.into_dispatch(),
            mask.into_dispatch(),
            scale,
        ),
    };
    Tensor::from_dispatch(out)
}

/// Fused [`super::head_cross_entropy`], for a frozen head.
pub fn head_cross_entropy(hidden: Tensor<2>, w: Tensor<2>, targets: &[i64]) -> Tensor<1> {
    Tensor::from_dispatch(<Dispatch as FusedOps>::head_cross_entropy(
        hidden.into_dispatch(),
        w.into_dispatch(),
        targets.to_vec(),
    ))
}

/// Fused [`super::linear_rows`]: `x · w` over the last dimension of `x`, without autodiff.
pub fn linear_rows<const D: usize>(x: Tensor<D>, w: Tensor<2>) -> Tensor<D> {
    let mut dims = x.dims();
    let rows: usize = dims[..D - 1].iter().product();
    let x2 = x.reshape([rows, dims[D - 1]]);
    dims[D - 1] = w.dims()[1];
    let y: Tensor<2> = Tensor::from_dispatch(<Dispatch as FusedOps>::linear_rows(
        x2.into_dispatch(),
        w.into_dispatch(),
    ));
    y.reshape(dims)
}

#[cfg(test)]
mod tests;
