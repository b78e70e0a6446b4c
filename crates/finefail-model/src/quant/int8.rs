//! int8 per-output-channel absmax quantization (LLM.int8's vector-wise scheme, without its fp16
//! outlier split): each row of a `[out, in]` matrix stores `round(127 · w / absmax)` (ties to
//! even, as bitsandbytes rounds) and the scale `absmax / 127`.

/// A quantized `[out, in]` matrix on the host.
#[derive(Debug, Clone, PartialEq)]
pub struct Int8Rows {
    /// Codes, row-major `[out, in]`, in [-127, 127].
    pub codes: Vec<i8>,
    /// One scale per row (`absmax / 127`, 0 for an all-zero row).
    pub scales: Vec<f32>,
}

/// Quantizes a row-major `[rows, cols]` matrix row by row.
pub fn quantize(values: &[f32], rows: usize, cols: usize) -> Int8Rows {
    use rayon::prelude::*;
    assert_eq!(values.len(), rows * cols, "int8: shape does not match");
    let mut codes = vec![0i8; values.len()];
    // Rows are independent: quantized in parallel (a 7B model has 6.5 B values).
    let scales = values
        .par_chunks(cols.max(1))
        .zip(codes.par_chunks_mut(cols.max(1)))
        .map(|(row, out)| {
            let m = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let inv = if m > 0.0 { 127.0 / m } else { 0.0 };
            for (o, v) in out.iter_mut().zip(row) {
                *o = (v * inv).round_ties_even().clamp(-127.0, 127.0) as i8;
            }
            m / 127.0
        })
        .collect();
    Int8Rows { codes, scales }
}

/// Dequantizes on the host (`code · scale`), the reference for the device path.
pub fn dequantize(q: &Int8Rows, cols: usize) -> Vec<f32> {
    q.codes
        .iter()
        .enumerate()
        .map(|(i, &c)| f32::from(c) * q.scales[i / cols])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_checked_rows() {
        // Row 0: absmax 2 → codes 127, -64 (−1·127/2 = −63.5 rounds to the even −64), 0.
        let q = quantize(&[2.0, -1.0, 0.0, 0.0, 0.0, 0.0], 2, 3);
        assert_eq!(q.codes, vec![127, -64, 0, 0, 0, 0]);
        assert_eq!(q.scales, vec![2.0 / 127.0, 0.0]);
        let back = dequantize(&q, 3);
        assert!((back[0] - 2.0).abs() < 1e-6 && (back[1] + 1.007_874).abs() < 1e-5);
    }
}
