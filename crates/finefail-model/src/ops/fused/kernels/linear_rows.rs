//! `y = x · W` for a few rows of `x` (decoding: one row per sequence), on both cores.
//!
//! A product with one row is a pass over W: its speed is how fast W streams from memory, and gemm's
//! single-row path streams it on one core. Here the output columns are split into blocks handed to
//! the rayon pool, each block streaming its part of W once for every row of `x`. W may be row-major
//! `[in, out]` (every projection: each input row of W updates a block of outputs) or column-major
//! (the tied head `Eᵀ`: each output is a dot product with one row of E). Inference only: no backward.

use super::mat::MatRef;
use rayon::prelude::*;

/// Rows of `x` up to which [`forward`] is used instead of a matrix product.
pub const MAX_ROWS: usize = 16;

/// Weights with fewer values than this are streamed by the calling thread alone.
const SERIAL_BELOW: usize = 256 * 1024;

/// `x` `[n, in]` (row-major) times `w` `[in, out]` (`w.cs == 1` or `w.rs == 1`) → `[n, out]`.
pub fn forward(x: &[f32], n: usize, w: MatRef) -> Vec<f32> {
    let (d_in, out) = (w.rows, w.cols);
    assert_eq!(x.len(), n * d_in, "x rows");
    // Waking the pool costs tens of microseconds: small matrices stream faster on this thread.
    let threads = if d_in * out < SERIAL_BELOW {
        1
    } else {
        rayon::current_num_threads().max(1)
    };
    if threads == 1 && w.cs == 1 {
        return row_major_band(x, n, w, 0, d_in);
    }
    if w.cs == 1 {
        // Row-major W: each task streams a contiguous band of W's rows into its own partial sums.
        let band = d_in.div_ceil(threads);
        let partials: Vec<Vec<f32>> = (0..d_in)
            .step_by(band.max(1))
            .collect::<Vec<_>>()
            .par_iter()
            .map(|&i0| row_major_band(x, n, w, i0, band.min(d_in - i0)))
            .collect();
        let mut y = vec![0.0f32; n * out];
        for p in &partials {
            y.iter_mut().zip(p).for_each(|(a, b)| *a += b);
        }
        y
    } else {
        // Column-major W (the tied head): each task takes a contiguous range of columns.
        let width = out.div_ceil(threads * 4).max(1);
        let blocks: Vec<(usize, usize)> = (0..out)
            .step_by(width)
            .map(|c0| (c0, width.min(out - c0)))
            .collect();
        let parts: Vec<Vec<f32>> = blocks
            .par_iter()
            .map(|&(c0, bw)| column_major_block(x, n, w, c0, bw))
            .collect();
        let mut y = vec![0.0f32; n * out];
        for (&(c0, bw), part) in blocks.iter().zip(&parts) {
            for r in 0..n {
                y[r * out + c0..r * out + c0 + bw].copy_from_slice(&part[r * bw..(r + 1) * bw]);
            }
        }
        y
    }
}

/// Partial sums of every row over W's rows `i0 .. i0 + len` (row-major W): `acc_r += x[r, i] · W[i, :]`.
fn row_major_band(x: &[f32], n: usize, w: MatRef, i0: usize, len: usize) -> Vec<f32> {
    let (d_in, out) = (w.rows, w.cols);
    let mut acc = vec![0.0f32; n * out];
    for i in i0..i0 + len {
        // SAFETY: row i (cs == 1, `cols` values) lies inside the view.
        let wrow = unsafe { std::slice::from_raw_parts(w.ptr.offset(i as isize * w.rs), out) };
        for r in 0..n {
            axpy(&mut acc[r * out..(r + 1) * out], x[r * d_in + i], wrow);
        }
    }
    acc
}

/// `acc += a · w`, with AVX2/FMA when the CPU has them (the default build targets baseline x86-64).
fn axpy(acc: &mut [f32], a: f32, w: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the features were just detected.
        unsafe { axpy_avx2(acc, a, w) };
        return;
    }
    for (s, &v) in acc.iter_mut().zip(w) {
        *s += a * v;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn axpy_avx2(acc: &mut [f32], a: f32, w: &[f32]) {
    for (s, &v) in acc.iter_mut().zip(w) {
        *s = a.mul_add(v, *s);
    }
}

/// Outputs `c0 .. c0 + bw` of every row, W column-major: each output a dot product with a column.
fn column_major_block(x: &[f32], n: usize, w: MatRef, c0: usize, bw: usize) -> Vec<f32> {
    let d_in = w.rows;
    let mut acc = vec![0.0f32; n * bw];
    for c in 0..bw {
        // SAFETY: column c0 + c is contiguous (rs == 1) with `rows` values inside the view.
        let col =
            unsafe { std::slice::from_raw_parts(w.ptr.offset((c0 + c) as isize * w.cs), d_in) };
        for r in 0..n {
            acc[r * bw + c] = dot(&x[r * d_in..(r + 1) * d_in], col);
        }
    }
    acc
}

/// A dot product with 16 independent partial sums (so it vectorises), AVX2/FMA when available.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the features were just detected.
        return unsafe { dot_avx2(a, b) };
    }
    dot_plain(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    dot_plain(a, b)
}

#[inline(always)]
fn dot_plain(a: &[f32], b: &[f32]) -> f32 {
    let mut s = [0.0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..16 {
            s[k] += x[k] * y[k];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    s.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against a naive triple loop, row-major and column-major W, odd sizes.
    #[test]
    fn matches_naive_product() {
        let (n, d_in, out) = (3, 37, 101);
        let x: Vec<f32> = (0..n * d_in).map(|i| ((i * 7) % 13) as f32 - 6.0).collect();
        let w: Vec<f32> = (0..d_in * out)
            .map(|i| ((i * 5) % 11) as f32 - 5.0)
            .collect();
        let mut want = vec![0.0f32; n * out];
        for r in 0..n {
            for c in 0..out {
                want[r * out + c] = (0..d_in).map(|i| x[r * d_in + i] * w[i * out + c]).sum();
            }
        }
        let rm = MatRef::rows_of(&w, 0, d_in, out, out);
        assert_eq!(forward(&x, n, rm), want);
        // the same W stored column-major ([out, in] row-major, viewed transposed)
        let wt: Vec<f32> = (0..out * d_in)
            .map(|k| w[(k % d_in) * out + k / d_in])
            .collect();
        let cm = MatRef::rows_of(&wt, 0, out, d_in, d_in).t();
        assert_eq!(forward(&x, n, cm), want);
    }
}
