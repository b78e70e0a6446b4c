//! The output head and cross-entropy on any backend, chunked, for a frozen head: the path LibTorch
//! and CUDA take (issue 23, item 3). Written with plain ops the head keeps the whole
//! `[positions × vocab]` logits alive for the backward, in f32, three times over (the product,
//! the log-softmax and its gradient) — 0.8 GB for a 7B model at 4 × 512 positions.
//!
//! Here the logits exist one chunk of rows at a time ([`CHUNK_VALUES`] values), outside the
//! autodiff graph: each chunk's product runs in the head's own dtype (the compute dtype the caller
//! passes it in: bf16 on a GPU), the log-sum-exp, the loss and the softmax in f32, and the
//! gradient with respect to the hidden rows, `∂loss_i/∂h_i = softmax_i · Wᵀ − Wᵀ[target_i]`, is
//! computed in the same pass (the head is frozen, so it is the only gradient wanted). The result
//! carries that gradient through a zero-valued term, `loss + Σ_d (h − stop(h)) ⊙ stop(g)`: its
//! value is exactly the loss (`h − h` is exactly zero) and its gradient with respect to `h` is
//! exactly `g`, on every backend's own autodiff. Kept for the backward: `g`, `[n, d]`.

use burn::tensor::activation::softmax;
use burn::tensor::{DType, FloatDType, Int, Tensor, TensorData};

/// Logit values one chunk holds (rows = this / vocab, at least one): 16 Mi values, 64 MB in f32.
pub const CHUNK_VALUES: usize = 1 << 24;

/// Rows of logits one chunk holds for a vocabulary of `vocab` tokens.
pub fn chunk_rows(vocab: usize) -> usize {
    (CHUNK_VALUES / vocab.max(1)).max(1)
}

/// Per-row cross-entropy `-log softmax(h · w)[target]` of `hidden` `[n, d]` against `targets`, `w`
/// `[d, vocab]` frozen, computed in `w`'s dtype chunk by chunk (see the module doc). Returns
/// `[n]` in f32.
pub fn head_cross_entropy(hidden: Tensor<2>, w: Tensor<2>, targets: &[i64]) -> Tensor<1> {
    let rows = chunk_rows(w.dims()[1]);
    in_chunks(hidden, w, targets, rows)
}

/// [`head_cross_entropy`] with `rows` rows of logits per chunk.
fn in_chunks(hidden: Tensor<2>, w: Tensor<2>, targets: &[i64], rows: usize) -> Tensor<1> {
    let [n, d] = hidden.dims();
    let device = hidden.device();
    let compute = float_dtype(w.dtype());
    let w = w.detach();
    let wt = w.clone().transpose();
    let h = hidden.clone().detach();
    let (mut losses, mut grads) = (Vec::new(), Vec::new());
    for start in (0..n).step_by(rows) {
        let end = (start + rows).min(n);
        let m = end - start;
        let idx = Tensor::<1, Int>::from_data(
            TensorData::new(targets[start..end].to_vec(), [m]),
            &device,
        );
        let hc = h.clone().slice([start..end, 0..d]).cast(compute);
        let logits = hc.matmul(w.clone()).cast(FloatDType::F32);
        let max = logits.clone().max_dim(1);
        let lse = max.clone() + (logits.clone() - max).exp().sum_dim(1).log();
        let picked = logits.clone().gather(1, idx.clone().reshape([m, 1]));
        losses.push((lse - picked).reshape([m]));
        let p = softmax(logits, 1).cast(compute);
        let g = p.matmul(wt.clone()) - wt.clone().select(0, idx);
        grads.push(g.cast(FloatDType::F32));
    }
    let loss = Tensor::cat(losses, 0);
    if !device.is_autodiff() {
        return loss;
    }
    let g = Tensor::cat(grads, 0);
    let hidden = hidden.cast(FloatDType::F32);
    let zero_with_grad = ((hidden.clone() - hidden.detach()) * g)
        .sum_dim(1)
        .reshape([n]);
    loss + zero_with_grad
}

/// The float dtype of a tensor's dtype (f32 for anything that is not a 16-bit float).
fn float_dtype(dtype: DType) -> FloatDType {
    match dtype {
        DType::BF16 => FloatDType::BF16,
        DType::F16 => FloatDType::F16,
        _ => FloatDType::F32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    /// A small deterministic case: n rows of width d, a head of `vocab` columns.
    fn case(n: usize, d: usize, vocab: usize) -> (Vec<f32>, Vec<f32>, Vec<i64>) {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((x >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        };
        let h: Vec<f32> = (0..n * d).map(|_| next() * 2.0).collect();
        let w: Vec<f32> = (0..d * vocab).map(|_| next()).collect();
        let t: Vec<i64> = (0..n).map(|i| ((i * 7 + 3) % vocab) as i64).collect();
        (h, w, t)
    }

    /// The loss and ∂loss/∂h of every row, by hand in f64: the independent reference.
    fn reference(h: &[f32], w: &[f32], t: &[i64], d: usize, vocab: usize) -> (Vec<f64>, Vec<f64>) {
        let n = t.len();
        let (mut loss, mut grad) = (vec![0.0; n], vec![0.0; n * d]);
        for i in 0..n {
            let logits: Vec<f64> = (0..vocab)
                .map(|j| {
                    (0..d)
                        .map(|k| h[i * d + k] as f64 * w[k * vocab + j] as f64)
                        .sum()
                })
                .collect();
            let max = logits.iter().cloned().fold(f64::MIN, f64::max);
            let sum: f64 = logits.iter().map(|l| (l - max).exp()).sum();
            loss[i] = max + sum.ln() - logits[t[i] as usize];
            for j in 0..vocab {
                let p = (logits[j] - max).exp() / sum - if j == t[i] as usize { 1.0 } else { 0.0 };
                for k in 0..d {
                    grad[i * d + k] += p * w[k * vocab + j] as f64;
                }
            }
        }
        (loss, grad)
    }

    /// A tensor's f32 values, widened to f64 for comparison with the f64 reference.
    fn as_f64s<const D: usize>(t: Tensor<D>) -> Vec<f64> {
        let values = t.into_data().try_to_vec::<f32>().unwrap();
        values.into_iter().map(f64::from).collect()
    }

    fn run(dtype: FloatDType, rows: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
        let (n, d, vocab) = (23, 12, 50);
        let (h, w, t) = case(n, d, vocab);
        let device = Device::flex().autodiff();
        let ht = Tensor::<2>::from_data(TensorData::new(h.clone(), [n, d]), &device).require_grad();
        let wt =
            Tensor::<2>::from_data(TensorData::new(w.clone(), [d, vocab]), &device).cast(dtype);
        let loss = in_chunks(ht.clone(), wt, &t, rows);
        let values = as_f64s(loss.clone());
        // Weight the rows differently, so a gradient routed to the wrong row shows.
        let weights: Vec<f32> = (0..n).map(|i| 1.0 + i as f32 / 10.0).collect();
        let weighted =
            loss * Tensor::<1>::from_data(TensorData::new(weights.clone(), [n]), &device);
        let grads = weighted.sum().backward();
        let g = as_f64s(ht.grad(&grads).unwrap());
        let (rl, mut rg) = reference(&h, &w, &t, d, vocab);
        for i in 0..n {
            for k in 0..d {
                rg[i * d + k] *= weights[i] as f64;
            }
        }
        (values, rl, g, rg)
    }

    fn max_rel(a: &[f64], b: &[f64]) -> f64 {
        let scale = b.iter().fold(0.0f64, |m, x| m.max(x.abs())).max(1e-12);
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs() / scale)
            .fold(0.0, f64::max)
    }

    /// In f32, over chunks of 1, 5 (a ragged last chunk) and all 23 rows: the loss and the
    /// gradient with respect to the hidden rows equal a hand computation in f64 within 1e-5.
    #[test]
    fn f32_values_and_gradients_equal_the_f64_reference() {
        for rows in [1, 5, 23, 100] {
            let (v, rv, g, rg) = run(FloatDType::F32, rows);
            assert!(
                max_rel(&v, &rv) < 1e-5,
                "rows {rows}: loss {}",
                max_rel(&v, &rv)
            );
            assert!(
                max_rel(&g, &rg) < 1e-5,
                "rows {rows}: grad {}",
                max_rel(&g, &rg)
            );
        }
    }

    /// With the head in bf16 the products run in bf16 (8 mantissa bits): within 2 % of the f64
    /// reference, and still exact f32 bookkeeping (the loss is finite and positive).
    #[test]
    fn a_bf16_head_computes_in_bf16_within_its_rounding() {
        let (v, rv, g, rg) = run(FloatDType::BF16, 5);
        assert!(v.iter().all(|x| x.is_finite() && *x > 0.0));
        assert!(max_rel(&v, &rv) < 2e-2, "loss {}", max_rel(&v, &rv));
        assert!(max_rel(&g, &rg) < 2e-2, "grad {}", max_rel(&g, &rg));
        // …and not bit-equal to f32: the bf16 path really ran.
        let (v32, ..) = run(FloatDType::F32, 5);
        assert!(v.iter().zip(&v32).any(|(a, b)| a != b));
    }

    #[test]
    fn chunks_hold_at_most_chunk_values_logits() {
        assert_eq!(chunk_rows(49_152), 341);
        assert_eq!(chunk_rows(32_000), 524);
        assert_eq!(chunk_rows(usize::MAX), 1);
    }
}
