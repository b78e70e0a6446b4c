//! RMSNorm over rows: `y = x · r · γ` with `r = 1 / sqrt(mean(x²) + ε)`.
//!
//! Backward (per row, width d): `dx = r·(γ⊙dy) − x · r³ · Σ(γ⊙dy⊙x) / d`, `dγ = Σ_rows dy⊙x·r`.
//! The forward keeps `r` (one number per row) so the backward never recomputes the norm.

use rayon::prelude::*;

const ROWS_PER_TASK: usize = 64;

/// Forward: returns `(y, r)`.
pub fn forward(x: &[f32], gamma: &[f32], eps: f64) -> (Vec<f32>, Vec<f32>) {
    let d = gamma.len();
    let n = x.len() / d;
    let mut y = vec![0.0f32; x.len()];
    let mut r = vec![0.0f32; n];
    y.par_chunks_mut(ROWS_PER_TASK * d)
        .zip(r.par_chunks_mut(ROWS_PER_TASK))
        .zip(x.par_chunks(ROWS_PER_TASK * d))
        .for_each(|((y, r), x)| {
            for ((yr, ri), xr) in y.chunks_mut(d).zip(r.iter_mut()).zip(x.chunks(d)) {
                let ms = xr
                    .iter()
                    .map(|v| f64::from(*v) * f64::from(*v))
                    .sum::<f64>()
                    / d as f64;
                let inv = (1.0 / (ms + eps).sqrt()) as f32;
                *ri = inv;
                for ((o, v), g) in yr.iter_mut().zip(xr).zip(gamma) {
                    *o = v * inv * g;
                }
            }
        });
    (y, r)
}

/// Backward: returns `(dx, dγ)`; `dγ` only when `want_gamma`.
pub fn backward(
    x: &[f32],
    gamma: &[f32],
    r: &[f32],
    dy: &[f32],
    want_gamma: bool,
) -> (Vec<f32>, Option<Vec<f32>>) {
    let d = gamma.len();
    let mut dx = vec![0.0f32; x.len()];
    dx.par_chunks_mut(ROWS_PER_TASK * d)
        .zip(x.par_chunks(ROWS_PER_TASK * d))
        .zip(dy.par_chunks(ROWS_PER_TASK * d))
        .zip(r.par_chunks(ROWS_PER_TASK))
        .for_each(|(((dx, x), dy), r)| {
            for (((dxr, xr), dyr), &ri) in
                dx.chunks_mut(d).zip(x.chunks(d)).zip(dy.chunks(d)).zip(r)
            {
                let dot: f32 = xr
                    .iter()
                    .zip(dyr)
                    .zip(gamma)
                    .map(|((a, b), g)| a * b * g)
                    .sum();
                let c = ri * ri * ri * dot / d as f32;
                for (((o, xv), dv), g) in dxr.iter_mut().zip(xr).zip(dyr).zip(gamma) {
                    *o = ri * g * dv - xv * c;
                }
            }
        });
    let dgamma = want_gamma.then(|| {
        let mut dg = vec![0.0f32; d];
        for ((xr, dyr), &ri) in x.chunks(d).zip(dy.chunks(d)).zip(r) {
            for ((g, xv), dv) in dg.iter_mut().zip(xr).zip(dyr) {
                *g += dv * xv * ri;
            }
        }
        dg
    });
    (dx, dgamma)
}
