//! Causal attention through LibTorch's fused scaled-dot-product kernels, as a burn backend
//! extension ([`TorchAttention`]) for `LibTorch` and `Autodiff<LibTorch>`, with a hand-written
//! backward that calls the kernels' own backward.
//!
//! - CPU: `_scaled_dot_product_flash_attention_for_cpu` and its `_backward`.
//! - CUDA: `_scaled_dot_product_efficient_attention` and `_efficient_attention_backward` (f32 and
//!   bf16).
//!
//! Both return the log-sum-exp per query row, so the backward keeps q, k, v, the output and the
//! log-sum-exp — nothing of size t² (the plain path keeps about three `[b, h, t, t]` tensors per
//! layer). Grouped-query heads: k and v are expanded to the query heads (Hugging Face's
//! `repeat_kv` order, query head `j` reads key/value head `j / g`) just for each kernel call, and
//! their gradients summed back over each group of `g` query heads.
//!
//! [`super::attention`] routes here on LibTorch CPU and CUDA devices under autodiff, for f32 and
//! bf16 tensors without a padding mask (training); everything else keeps the plain path.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::libtorch::{LibTorchDevice, TchTensor};
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Autodiff, Backend, Dispatch, DispatchDevice, LibTorch};
use burn::tensor::{DType, Tensor};

/// Fused causal GQA attention on LibTorch.
#[backend_extension(LibTorch, Autodiff)]
pub trait TorchAttention: Backend {
    /// Causal GQA attention of `q` `[b, h, t, hd]` over `k`/`v` `[b, kvh, t, hd]`.
    fn torch_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        scale: f64,
    ) -> FloatTensor<Self>;
}

/// Whether [`attention`] serves `q` over `k`: a LibTorch CPU or CUDA device under autodiff, f32 or
/// bf16, and as many keys as queries (no cache).
pub(super) fn serves(q: &Tensor<4>, k: &Tensor<4>) -> bool {
    let device = q.device();
    device.is_autodiff()
        && matches!(q.dtype(), DType::F32 | DType::BF16)
        && q.dims()[2] == k.dims()[2]
        && matches!(
            device.inner().as_dispatch(),
            DispatchDevice::LibTorch(LibTorchDevice::Cpu | LibTorchDevice::Cuda(_))
        )
}

/// Causal GQA attention through LibTorch's fused kernels (see the module doc).
pub(super) fn attention(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>) -> Tensor<4> {
    let scale = 1.0 / (q.dims()[3] as f64).sqrt();
    Tensor::from_dispatch(<Dispatch as TorchAttention>::torch_attention(
        q.into_dispatch(),
        k.into_dispatch(),
        v.into_dispatch(),
        scale,
    ))
}

/// k or v `[b, kvh, t, hd]` repeated to `h` heads, each head `g = h / kvh` times in a row.
fn expand_heads(x: &tch::Tensor, h: i64) -> tch::Tensor {
    let [b, kvh, t, hd] = dims4(x);
    if kvh == h {
        return last_dim_dense(x);
    }
    x.unsqueeze(2)
        .expand([b, kvh, h / kvh, t, hd], false)
        .reshape([b, h, t, hd])
}

/// The gradient of an [`expand_heads`] result `[b, h, t, hd]` summed back to `kvh` heads.
fn sum_heads(dx: tch::Tensor, kvh: i64) -> tch::Tensor {
    let [b, h, t, hd] = dims4(&dx);
    if kvh == h {
        return dx;
    }
    dx.reshape([b, kvh, h / kvh, t, hd])
        .sum_dim_intlist([2i64].as_slice(), false, None)
}

/// `x`, copied only if its last dimension is not dense (the kernels read rows of `hd` values).
fn last_dim_dense(x: &tch::Tensor) -> tch::Tensor {
    if x.stride()[3] == 1 {
        x.shallow_clone()
    } else {
        x.contiguous()
    }
}

fn dims4(x: &tch::Tensor) -> [i64; 4] {
    x.size().try_into().expect("a 4-d tensor")
}

/// What the forward returns and the backward needs besides q, k, v.
#[derive(Debug)]
struct Saved {
    out: tch::Tensor,
    lse: tch::Tensor,
    /// The efficient kernel's RNG state (unused without dropout, but part of its backward's call).
    philox: Option<(tch::Tensor, tch::Tensor)>,
}

impl Clone for Saved {
    fn clone(&self) -> Self {
        Self {
            out: self.out.shallow_clone(),
            lse: self.lse.shallow_clone(),
            philox: self
                .philox
                .as_ref()
                .map(|(s, o)| (s.shallow_clone(), o.shallow_clone())),
        }
    }
}

/// The causal forward on the kernel of `q`'s device.
fn forward(q: &tch::Tensor, k: &tch::Tensor, v: &tch::Tensor, scale: f64, lse: bool) -> Saved {
    let h = dims4(q)[1];
    let q = &last_dim_dense(q);
    let (k, v) = (expand_heads(k, h), expand_heads(v, h));
    match q.device() {
        tch::Device::Cuda(_) => {
            let (out, lse, seed, offset) =
                tch::Tensor::internal_scaled_dot_product_efficient_attention::<tch::Tensor>(
                    q, &k, &v, None, lse, 0.0, true, scale,
                );
            Saved {
                out,
                lse,
                philox: Some((seed, offset)),
            }
        }
        _ => {
            let (out, lse) = tch::Tensor::internal_scaled_dot_product_flash_attention_for_cpu::<
                tch::Tensor,
            >(q, &k, &v, 0.0, true, None, scale);
            Saved {
                out,
                lse,
                philox: None,
            }
        }
    }
}

/// `(dq, dk, dv)` of the causal attention with output gradient `d_o`, k and v gradients summed
/// back to their own heads.
fn backward(
    d_o: &tch::Tensor,
    q: &tch::Tensor,
    k: &tch::Tensor,
    v: &tch::Tensor,
    saved: &Saved,
    scale: f64,
) -> (tch::Tensor, tch::Tensor, tch::Tensor) {
    let [_, h, t, _] = dims4(q);
    let kvh = dims4(k)[1];
    let (ke, ve) = (expand_heads(k, h), expand_heads(v, h));
    let q = &last_dim_dense(q);
    let (dq, dk, dv) = match &saved.philox {
        Some((seed, offset)) => {
            // `_efficient_attention_backward` takes `[b, t, h, hd]` views, as PyTorch's
            // `_scaled_dot_product_efficient_attention_backward` passes them (it copies a
            // non-contiguous output gradient itself); mask type 1 is causal from the top left.
            let tr = |x: &tch::Tensor| x.transpose(1, 2);
            let (dq, dk, dv, _) = tch::Tensor::internal_efficient_attention_backward::<tch::Tensor>(
                &tr(d_o),
                &tr(q),
                &tr(&ke),
                &tr(&ve),
                None,
                &tr(&saved.out),
                None,
                None,
                t,
                t,
                &saved.lse,
                0.0,
                seed,
                offset,
                1,
                false,
                scale,
                None,
                None,
                false,
            );
            (tr(&dq), tr(&dk), tr(&dv))
        }
        None => {
            tch::Tensor::internal_scaled_dot_product_flash_attention_for_cpu_backward::<tch::Tensor>(
                d_o, q, &ke, &ve, &saved.out, &saved.lse, 0.0, true, None, scale,
            )
        }
    };
    (dq, sum_heads(dk, kvh), sum_heads(dv, kvh))
}

impl TorchAttention for LibTorch {
    fn torch_attention(q: TchTensor, k: TchTensor, v: TchTensor, scale: f64) -> TchTensor {
        TchTensor::new(forward(&q.tensor, &k.tensor, &v.tensor, scale, false).out)
    }
}

#[derive(Debug)]
struct TorchAttentionBackward;

/// What the backward keeps: q, k, v (alive anyway as the projections' outputs), the output, the
/// log-sum-exp and the scale.
#[derive(Debug, Clone)]
struct State {
    q: TchTensor,
    k: TchTensor,
    v: TchTensor,
    saved: Saved,
    scale: f64,
}

impl Backward<LibTorch, 3> for TorchAttentionBackward {
    type State = State;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [nq, nk, nv] = ops.parents;
        let s = ops.state;
        let d_o = grads.consume::<LibTorch>(&ops.node);
        let (dq, dk, dv) = backward(
            &d_o.tensor,
            &s.q.tensor,
            &s.k.tensor,
            &s.v.tensor,
            &s.saved,
            s.scale,
        );
        if let Some(n) = nq {
            grads.register::<LibTorch>(n.id, TchTensor::new(dq));
        }
        if let Some(n) = nk {
            grads.register::<LibTorch>(n.id, TchTensor::new(dk));
        }
        if let Some(n) = nv {
            grads.register::<LibTorch>(n.id, TchTensor::new(dv));
        }
    }
}

impl<C: CheckpointStrategy> TorchAttention for Autodiff<LibTorch, C> {
    fn torch_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        scale: f64,
    ) -> FloatTensor<Self> {
        let nodes = [q.node(), k.node(), v.node()];
        let (q, k, v) = (q.into_primitive(), k.into_primitive(), v.into_primitive());
        match TorchAttentionBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let saved = forward(&q.tensor, &k.tensor, &v.tensor, scale, true);
                let out = TchTensor::new(saved.out.shallow_clone());
                prep.finish(
                    State {
                        q,
                        k,
                        v,
                        saved,
                        scale,
                    },
                    out,
                )
            }
            OpsKind::UnTracked(prep) => prep.finish(TchTensor::new(
                forward(&q.tensor, &k.tensor, &v.tensor, scale, false).out,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::plain;
    use burn::tensor::{Device, Distribution, Tensor};

    fn values(t: Tensor<4>) -> Vec<f32> {
        t.into_data().convert::<f32>().into_vec::<f32>().unwrap()
    }

    fn max_diff(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter().zip(b).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
    }

    /// Values and q/k/v gradients of the LibTorch kernels against the plain path, causal GQA, f32.
    #[test]
    fn torch_attention_matches_the_plain_path() {
        let dev = Device::libtorch().autodiff();
        let cases = [
            (2, 4, 2, 7, 8, false),
            (2, 4, 2, 33, 8, false),
            (2, 4, 2, 33, 8, true),
            (1, 3, 3, 5, 4, false),
            (2, 6, 1, 17, 16, true),
        ];
        for (b, h, kvh, t, hd, strided) in cases {
            // `strided`: `[b, t, heads, hd]` underneath, as the projections leave q, k and v.
            let rand = |heads| {
                let normal = Distribution::Normal(0.0, 1.0);
                if strided {
                    Tensor::<4>::random([b, t, heads, hd], normal, &dev).swap_dims(1, 2)
                } else {
                    Tensor::<4>::random([b, heads, t, hd], normal, &dev)
                }
            };
            let (q, k, v) = (rand(h), rand(kvh), rand(kvh));
            let w = rand(h);
            let run = |fused: bool| {
                let (q, k, v) = (
                    q.clone().require_grad(),
                    k.clone().require_grad(),
                    v.clone().require_grad(),
                );
                let out = if fused {
                    assert!(super::serves(&q, &k));
                    super::attention(q.clone(), k.clone(), v.clone())
                } else {
                    let mask = Tensor::<2>::zeros([t, t], &dev)
                        .mask_fill(
                            Tensor::<2, burn::tensor::Bool>::tril_mask([t, t], 0, &dev),
                            f32::NEG_INFINITY,
                        )
                        .reshape([1, 1, t, t]);
                    plain::attention(q.clone(), k.clone(), v.clone(), mask)
                };
                let g = (out.clone() * w.clone()).sum().backward();
                [
                    values(out),
                    values(q.grad(&g).unwrap()),
                    values(k.grad(&g).unwrap()),
                    values(v.grad(&g).unwrap()),
                ]
            };
            let (fused, plain) = (run(true), run(false));
            for (name, (f, p)) in ["out", "dq", "dk", "dv"]
                .iter()
                .zip(fused.iter().zip(&plain))
            {
                let d = max_diff(f, p);
                eprintln!("b {b} h {h} kvh {kvh} t {t} hd {hd} strided {strided}: {name} max |diff| {d:e}");
                assert!(d <= 1e-5, "{name}: max |diff| {d}");
            }
        }
    }
}
