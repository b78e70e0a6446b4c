//! SwiGLU gate `y = silu(g) ⊙ u`, `silu(g) = g·σ(g)`.
//!
//! Backward: `du = dy ⊙ silu(g)`, `dg = dy ⊙ u ⊙ σ(g)·(1 + g·(1 − σ(g)))`.

use rayon::prelude::*;

const CHUNK: usize = 1 << 14;

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Forward.
pub fn forward(g: &[f32], u: &[f32]) -> Vec<f32> {
    let mut y = vec![0.0f32; g.len()];
    y.par_chunks_mut(CHUNK)
        .zip(g.par_chunks(CHUNK))
        .zip(u.par_chunks(CHUNK))
        .for_each(|((y, g), u)| {
            for ((o, &gv), &uv) in y.iter_mut().zip(g).zip(u) {
                *o = gv * sigmoid(gv) * uv;
            }
        });
    y
}

/// Backward: returns `(dg, du)`.
pub fn backward(g: &[f32], u: &[f32], dy: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let mut dg = vec![0.0f32; g.len()];
    let mut du = vec![0.0f32; g.len()];
    dg.par_chunks_mut(CHUNK)
        .zip(du.par_chunks_mut(CHUNK))
        .zip(
            g.par_chunks(CHUNK)
                .zip(u.par_chunks(CHUNK))
                .zip(dy.par_chunks(CHUNK)),
        )
        .for_each(|((dg, du), ((g, u), dy))| {
            for i in 0..g.len() {
                let s = sigmoid(g[i]);
                du[i] = dy[i] * g[i] * s;
                dg[i] = dy[i] * u[i] * s * (1.0 + g[i] * (1.0 - s));
            }
        });
    (dg, du)
}
