//! Rotary embedding, Hugging Face half-split layout: `y = x·cos + rotate_half(x)·sin` with
//! `rotate_half([x₁, x₂]) = [−x₂, x₁]`.
//!
//! Backward: `dx = dy·cos + rotate_halfᵀ(dy·sin)` with `rotate_halfᵀ([z₁, z₂]) = [z₂, −z₁]`.
//! Input is read through strides (logical `[b, h, t, hd]`, last dimension contiguous); output is
//! written physically as `[b, t, h, hd]` so the attention kernel and the output projection read it
//! without a copy. `cos`/`sin` are `[cb, t, hd]` with `cb` 1 (shared) or `b`.

use super::Strided4;
use rayon::prelude::*;

/// Applies the rotation (`sign = 1`) or its transpose (`sign = −1`, the backward) to `x`.
fn rotate(x: &Strided4, cos: &[f32], sin: &[f32], cb: usize, sign: f32) -> Vec<f32> {
    let [b, h, t, hd] = x.shape;
    let half = hd / 2;
    let mut out = vec![0.0f32; b * t * h * hd];
    out.par_chunks_mut(h * hd)
        .enumerate()
        .for_each(|(bt, row)| {
            let (bi, ti) = (bt / t, bt % t);
            let table = ((if cb == 1 { 0 } else { bi }) * t + ti) * hd;
            let (c, s) = (&cos[table..table + hd], &sin[table..table + hd]);
            for hi in 0..h {
                let xs = x.row(bi, hi, ti);
                let o = &mut row[hi * hd..(hi + 1) * hd];
                if sign > 0.0 {
                    for i in 0..half {
                        o[i] = xs[i] * c[i] - xs[i + half] * s[i];
                        o[i + half] = xs[i + half] * c[i + half] + xs[i] * s[i + half];
                    }
                } else {
                    for i in 0..half {
                        o[i] = xs[i] * c[i] + xs[i + half] * s[i + half];
                        o[i + half] = xs[i + half] * c[i + half] - xs[i] * s[i];
                    }
                }
            }
        });
    out
}

/// Forward: `[b, t, h, hd]` physical.
pub fn forward(x: &Strided4, cos: &[f32], sin: &[f32], cb: usize) -> Vec<f32> {
    rotate(x, cos, sin, cb, 1.0)
}

/// Backward of `dy` (logical `[b, h, t, hd]`): `dx`, physical `[b, t, h, hd]`.
pub fn backward(dy: &Strided4, cos: &[f32], sin: &[f32], cb: usize) -> Vec<f32> {
    rotate(dy, cos, sin, cb, -1.0)
}
