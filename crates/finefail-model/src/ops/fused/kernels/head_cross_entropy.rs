//! Output head + cross-entropy, chunked over rows so the `[rows × vocab]` logits never exist at once.
//!
//! For hidden rows `h` `[n, d]`, head `w` `[d, V]` and targets: `loss_i = lse(h_i·w) − (h_i·w)[t_i]`.
//! When a gradient is wanted the forward also computes `∂loss_i/∂h_i = (softmax(h_i·w) − e_{t_i})·wᵀ`
//! chunk by chunk (the head is frozen, so nothing else needs the probabilities); the backward then
//! only scales those rows by the incoming gradient.

use super::mat::{matmul, MatMut, MatRef};
use rayon::prelude::*;

/// Rows per chunk: 128 × 49,152 logits = 25 MB.
pub const CHUNK: usize = 128;

/// Forward: per-row losses, and the per-row hidden gradients `[n, d]` when `want_grad`.
pub fn forward(
    h: &[f32],
    d: usize,
    w: MatRef,
    targets: &[i64],
    want_grad: bool,
) -> (Vec<f32>, Option<Vec<f32>>) {
    let n = targets.len();
    assert_eq!(h.len(), n * d, "hidden rows");
    assert_eq!(w.rows, d, "head input width");
    let vocab = w.cols;
    let threads = rayon::current_num_threads();
    let mut losses = vec![0.0f32; n];
    let mut dh = want_grad.then(|| vec![0.0f32; n * d]);
    let mut logits = vec![0.0f32; CHUNK.min(n) * vocab];
    for r0 in (0..n).step_by(CHUNK) {
        let rows = CHUNK.min(n - r0);
        let hm = MatRef::rows_of(h, r0 * d, rows, d, d);
        matmul(
            MatMut::rows_of(&mut logits, 0, rows, vocab, vocab),
            hm,
            w,
            1.0,
            false,
            threads,
        );
        logits[..rows * vocab]
            .par_chunks_mut(vocab)
            .zip(losses[r0..r0 + rows].par_iter_mut())
            .zip(targets[r0..r0 + rows].par_iter())
            .for_each(|((row, loss), &t)| {
                let t = usize::try_from(t)
                    .ok()
                    .filter(|&t| t < vocab)
                    .expect("target outside the vocabulary");
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let sum: f64 = row.iter().map(|x| f64::from((x - max).exp())).sum();
                let lse = max + sum.ln() as f32;
                *loss = lse - row[t];
                if want_grad {
                    for x in row.iter_mut() {
                        *x = (*x - lse).exp();
                    }
                    row[t] -= 1.0;
                }
            });
        if let Some(dh) = dh.as_mut() {
            let pm = MatRef::rows_of(&logits, 0, rows, vocab, vocab);
            matmul(
                MatMut::rows_of(dh, r0 * d, rows, d, d),
                pm,
                w.t(),
                1.0,
                false,
                threads,
            );
        }
    }
    (losses, dh)
}

/// Backward: `dh_i = g_i · dh_saved_i`.
pub fn backward(dh_saved: &[f32], d: usize, g: &[f32]) -> Vec<f32> {
    let mut out = dh_saved.to_vec();
    out.par_chunks_mut(d)
        .zip(g.par_iter())
        .for_each(|(row, &gi)| {
            for x in row {
                *x *= gi;
            }
        });
    out
}
