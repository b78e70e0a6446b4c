//! Causal grouped-query attention, forward and backward, recomputing probabilities in the backward
//! (flash-attention style) so only the per-row log-sum-exp is kept between the passes.
//!
//! `q` is logical `[b, h, t, hd]`, `k`/`v` `[b, kvh, tk, hd]` (any strides, last dimension
//! contiguous); the `t` queries sit at positions `tk − t ..` so query `i` sees keys `0 ..= tk − t + i`.
//! An optional additive mask `[mb, t, tk]` (`mb` 1 or b; 0 or −∞) further blocks keys (left padding).
//! Queries are processed in blocks of [`BLOCK`] rows and each block multiplies only the keys its last
//! row can see, so the masked upper triangle is never computed. Tasks run in parallel over
//! `(batch, head)` in the forward and `(batch, kv head)` in the backward (each kv head's gradient
//! is owned by one task, so no two tasks write the same memory).
//! Outputs (`o`, `dq`) are written physically `[b, t, h, hd]`; `dk`/`dv` `[b, tk, kvh, hd]`.

use super::mat::{matmul, MatMut, MatRef};
use super::Strided4;
use rayon::prelude::*;

/// Query rows per block.
pub const BLOCK: usize = 64;

/// An optional additive mask `[mb, t, tk]`, contiguous.
#[derive(Clone, Copy)]
pub struct Mask<'a> {
    pub values: &'a [f32],
    pub batches: usize,
}

impl Mask<'_> {
    fn row(&self, bi: usize, qi: usize, t: usize, tk: usize) -> &[f32] {
        let mb = if self.batches == 1 { 0 } else { bi };
        let at = (mb * t + qi) * tk;
        &self.values[at..at + tk]
    }
}

struct Dims {
    b: usize,
    h: usize,
    kvh: usize,
    t: usize,
    tk: usize,
    hd: usize,
}

impl Dims {
    fn of(q: &Strided4, k: &Strided4) -> Self {
        let [b, h, t, hd] = q.shape;
        let [_, kvh, tk, _] = k.shape;
        assert!(
            kvh > 0 && h % kvh == 0,
            "query heads must be a multiple of kv heads"
        );
        assert!(tk >= t, "more queries than keys");
        Self {
            b,
            h,
            kvh,
            t,
            tk,
            hd,
        }
    }
    fn past(&self) -> usize {
        self.tk - self.t
    }
}

/// Scores of one query block turned into probabilities in place: `s` holds `rows × nk` scaled
/// scores; row `i` (query `r0 + i`) keeps keys `< past + r0 + i + 1`. With `lse` given (backward)
/// uses it; otherwise computes and stores it.
#[allow(clippy::too_many_arguments)]
fn probabilities(
    s: &mut [f32],
    rows: usize,
    nk: usize,
    r0: usize,
    dims: &Dims,
    bi: usize,
    mask: Option<Mask>,
    lse: &mut [f32],
    known: bool,
) {
    for i in 0..rows {
        let qi = r0 + i;
        let lim = (dims.past() + qi + 1).min(nk);
        let row = &mut s[i * nk..(i + 1) * nk];
        if let Some(m) = mask {
            for (x, a) in row[..lim].iter_mut().zip(m.row(bi, qi, dims.t, dims.tk)) {
                *x += a;
            }
        }
        if !known {
            let max = row[..lim].iter().copied().fold(f32::NEG_INFINITY, f32::max);
            if max == f32::NEG_INFINITY {
                lse[i] = f32::INFINITY; // every key blocked: probabilities are all zero
            } else {
                let sum: f32 = row[..lim].iter().map(|x| (x - max).exp()).sum();
                lse[i] = max + sum.ln();
            }
        }
        let l = lse[i];
        for x in row[..lim].iter_mut() {
            *x = (*x - l).exp();
        }
        row[lim..].fill(0.0);
    }
}

/// Forward: returns `(o, lse)`, `o` physical `[b, t, h, hd]`, `lse` `[b, h, t]`.
pub fn forward(
    q: &Strided4,
    k: &Strided4,
    v: &Strided4,
    mask: Option<Mask>,
    scale: f32,
) -> (Vec<f32>, Vec<f32>) {
    let dims = Dims::of(q, k);
    let Dims {
        b,
        h,
        kvh,
        t,
        tk,
        hd,
    } = dims;
    let g = h / kvh;
    let mut out = vec![0.0f32; b * t * h * hd];
    let mut lse = vec![0.0f32; b * h * t];
    let out_all = MatMut::rows_of(&mut out, 0, b * t * h, hd, hd);
    lse.par_chunks_mut(t.max(1))
        .enumerate()
        .for_each(|(task, lse)| {
            let (bi, hi) = (task / h, task % h);
            let (qm, km, vm) = (q.mat(bi, hi), k.mat(bi, hi / g), v.mat(bi, hi / g));
            let mut s = vec![0.0f32; BLOCK.min(t) * tk];
            for r0 in (0..t).step_by(BLOCK) {
                let rows = BLOCK.min(t - r0);
                let nk = (dims.past() + r0 + rows).min(tk);
                let sm = MatMut::rows_of(&mut s, 0, rows, nk, nk);
                matmul(
                    sm,
                    qm.row_range(r0, rows),
                    km.row_range(0, nk).t(),
                    scale,
                    false,
                    1,
                );
                probabilities(
                    &mut s,
                    rows,
                    nk,
                    r0,
                    &dims,
                    bi,
                    mask,
                    &mut lse[r0..r0 + rows],
                    false,
                );
                // o rows of this head: physical row (bi·t + r0 + i)·h + hi
                let om = MatMut {
                    rs: (h * hd) as isize,
                    ..out_all.row_range((bi * t + r0) * h + hi, 1)
                };
                let om = MatMut { rows, ..om };
                matmul(
                    om,
                    MatRef::rows_of(&s, 0, rows, nk, nk),
                    vm.row_range(0, nk),
                    1.0,
                    false,
                    1,
                );
            }
        });
    (out, lse)
}

/// Gradients `(dq, dk, dv)` of the forward given `do_` (logical `[b, h, t, hd]`) and the forward's
/// `lse`; `dq` physical `[b, t, h, hd]`, `dk`/`dv` `[b, tk, kvh, hd]`.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    q: &Strided4,
    k: &Strided4,
    v: &Strided4,
    mask: Option<Mask>,
    scale: f32,
    lse: &[f32],
    do_: &Strided4,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let dims = Dims::of(q, k);
    let Dims {
        b,
        h,
        kvh,
        t,
        tk,
        hd,
    } = dims;
    let g = h / kvh;
    let mut dq = vec![0.0f32; b * t * h * hd];
    let mut dk = vec![0.0f32; b * tk * kvh * hd];
    let mut dv = vec![0.0f32; b * tk * kvh * hd];
    let dq_all = MatMut::rows_of(&mut dq, 0, b * t * h, hd, hd);
    let dk_all = MatMut::rows_of(&mut dk, 0, b * tk * kvh, hd, hd);
    let dv_all = MatMut::rows_of(&mut dv, 0, b * tk * kvh, hd, hd);
    (0..b * kvh).into_par_iter().for_each(|task| {
        let (bi, ki) = (task / kvh, task % kvh);
        let (km, vm) = (k.mat(bi, ki), v.mat(bi, ki));
        // this task's kv head: physical rows (bi·tk + j)·kvh + ki
        let kv_rows = |all: MatMut| MatMut {
            rows: tk,
            rs: (kvh * hd) as isize,
            ..all.row_range((bi * tk) * kvh + ki, 1)
        };
        let (dkm, dvm) = (kv_rows(dk_all), kv_rows(dv_all));
        let mut p = vec![0.0f32; BLOCK.min(t) * tk];
        let mut dp = vec![0.0f32; BLOCK.min(t) * tk];
        let mut l = vec![0.0f32; BLOCK];
        for hi in ki * g..(ki + 1) * g {
            let (qm, dom) = (q.mat(bi, hi), do_.mat(bi, hi));
            for r0 in (0..t).step_by(BLOCK) {
                let rows = BLOCK.min(t - r0);
                let nk = (dims.past() + r0 + rows).min(tk);
                let at = (bi * h + hi) * t + r0;
                l[..rows].copy_from_slice(&lse[at..at + rows]);
                matmul(
                    MatMut::rows_of(&mut p, 0, rows, nk, nk),
                    qm.row_range(r0, rows),
                    km.row_range(0, nk).t(),
                    scale,
                    false,
                    1,
                );
                probabilities(&mut p, rows, nk, r0, &dims, bi, mask, &mut l, true);
                let pm = MatRef::rows_of(&p, 0, rows, nk, nk);
                let do_blk = dom.row_range(r0, rows);
                // dV += Pᵀ dO
                matmul(dvm.row_range(0, nk), pm.t(), do_blk, 1.0, true, 1);
                // dP = dO Vᵀ, then dS = P ⊙ (dP − rowsum(P ⊙ dP))
                matmul(
                    MatMut::rows_of(&mut dp, 0, rows, nk, nk),
                    do_blk,
                    vm.row_range(0, nk).t(),
                    1.0,
                    false,
                    1,
                );
                for i in 0..rows {
                    let (pr, dr) = (&p[i * nk..(i + 1) * nk], &mut dp[i * nk..(i + 1) * nk]);
                    let dsum: f32 = pr.iter().zip(dr.iter()).map(|(a, b)| a * b).sum();
                    for (d, &pv) in dr.iter_mut().zip(pr) {
                        *d = pv * (*d - dsum);
                    }
                }
                let dsm = MatRef::rows_of(&dp, 0, rows, nk, nk);
                // dQ = scale · dS K   (rows of head hi: physical (bi·t + r0 + i)·h + hi)
                let dqm = MatMut {
                    rows,
                    rs: (h * hd) as isize,
                    ..dq_all.row_range((bi * t + r0) * h + hi, 1)
                };
                matmul(dqm, dsm, km.row_range(0, nk), scale, false, 1);
                // dK += scale · dSᵀ Q
                matmul(
                    dkm.row_range(0, nk),
                    dsm.t(),
                    qm.row_range(r0, rows),
                    scale,
                    true,
                    1,
                );
            }
        }
    });
    (dq, dk, dv)
}
