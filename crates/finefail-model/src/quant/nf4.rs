//! 4-bit NormalFloat (NF4, Dettmers et al. 2023, "QLoRA"): 16 code values that are quantiles of a
//! standard normal rescaled to [-1, 1], with an exact zero. A weight matrix is cut into blocks of
//! [`BLOCK`] consecutive values (row-major `[out, in]`, as bitsandbytes flattens it); each block
//! stores its absolute maximum as an f32 and each value the index of the code nearest to
//! `value / absmax`. Two indices share a byte, the first in the high nibble.

/// Values per block (QLoRA's block size for weights).
pub const BLOCK: usize = 64;

#[allow(clippy::excessive_precision)] // bitsandbytes' published digits, kept verbatim
/// The NF4 code book, as bitsandbytes publishes it (`bitsandbytes/functional.py`, the `nf4` data
/// type; the values are checked against a recorded copy in `tests/fixtures/nf4_reference.json`).
pub const CODE_BOOK: [f32; 16] = [
    -1.0,
    -0.6961928009986877,
    -0.5250730514526367,
    -0.39491748809814453,
    -0.28444138169288635,
    -0.18477343022823334,
    -0.09105003625154495,
    0.0,
    0.07958029955625534,
    0.16093020141124725,
    0.24611230194568634,
    0.33791524171829224,
    0.44070982933044434,
    0.5626170039176941,
    0.7229568362236023,
    1.0,
];

/// A quantized matrix on the host: packed codes and one absmax per block.
#[derive(Debug, Clone, PartialEq)]
pub struct Nf4Blocks {
    /// Two 4-bit code indices per byte, high nibble first; a trailing half byte is padded with
    /// the index of 0.0.
    pub packed: Vec<u8>,
    /// One absolute maximum per block of [`BLOCK`] values (the last block may be shorter).
    pub absmax: Vec<f32>,
    /// Number of values.
    pub len: usize,
}

/// The index of the code nearest to `x` (which lies in [-1, 1]); ties go to the lower index.
pub fn nearest_code(x: f32) -> u8 {
    let mut best = 0;
    for (i, c) in CODE_BOOK.iter().enumerate() {
        if (x - c).abs() < (x - CODE_BOOK[best]).abs() {
            best = i;
        }
    }
    best as u8
}

/// Quantizes `values` (row-major, blocks of [`BLOCK`] consecutive values). Runs of 256 blocks are
/// quantized in parallel (a 7B model has 6.5 B values to code); the result does not depend on it.
pub fn quantize(values: &[f32]) -> Nf4Blocks {
    use rayon::prelude::*;
    const PER_TASK: usize = BLOCK * 256;
    let parts: Vec<(Vec<f32>, Vec<u8>)> = values
        .par_chunks(PER_TASK)
        .map(|run| {
            let mut absmax = Vec::with_capacity(run.len().div_ceil(BLOCK));
            let mut codes = Vec::with_capacity(run.len());
            for block in run.chunks(BLOCK) {
                let m = block.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                absmax.push(m);
                let inv = if m > 0.0 { 1.0 / m } else { 0.0 };
                codes.extend(block.iter().map(|v| nearest_code(v * inv)));
            }
            (absmax, codes)
        })
        .collect();
    let mut codes = Vec::with_capacity(values.len() + 1);
    let mut absmax = Vec::with_capacity(values.len().div_ceil(BLOCK));
    for (a, c) in parts {
        absmax.extend(a);
        codes.extend(c);
    }
    if codes.len() % 2 == 1 {
        codes.push(ZERO_CODE);
    }
    let packed = codes
        .par_chunks_exact(2)
        .map(|p| (p[0] << 4) | p[1])
        .collect();
    Nf4Blocks {
        packed,
        absmax,
        len: values.len(),
    }
}

/// The index of 0.0 in [`CODE_BOOK`] (what padding decodes to).
pub const ZERO_CODE: u8 = 7;

/// Dequantizes on the host: `CODE_BOOK[index] · absmax` for every value (the reference the device
/// path is tested against).
pub fn dequantize(q: &Nf4Blocks) -> Vec<f32> {
    (0..q.len)
        .map(|i| {
            let byte = q.packed[i / 2];
            let code = if i % 2 == 0 { byte >> 4 } else { byte & 0x0f };
            CODE_BOOK[code as usize] * q.absmax[i / BLOCK]
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::excessive_precision)]
mod tests {
    use super::*;

    /// Quantizing in parallel runs gives what quantizing each block on its own gives.
    #[test]
    fn parallel_runs_equal_block_by_block_quantization() {
        let n = BLOCK * 256 * 3 + 37;
        let values: Vec<f32> = (0..n)
            .map(|i| ((i * 7919 % 1013) as f32 - 506.0) * 1e-3)
            .collect();
        let q = quantize(&values);
        let mut codes = Vec::new();
        for (b, block) in values.chunks(BLOCK).enumerate() {
            let one = quantize(block);
            assert_eq!(one.absmax, vec![q.absmax[b]]);
            codes.extend((0..block.len()).map(|i| {
                let byte = one.packed[i / 2];
                if i % 2 == 0 {
                    byte >> 4
                } else {
                    byte & 0x0f
                }
            }));
        }
        let got: Vec<u8> = (0..n)
            .map(|i| {
                let byte = q.packed[i / 2];
                if i % 2 == 0 {
                    byte >> 4
                } else {
                    byte & 0x0f
                }
            })
            .collect();
        assert_eq!(got, codes);
        assert_eq!(q.packed.len(), n.div_ceil(2));
    }

    #[test]
    fn hand_checked_block() {
        // absmax 2: 2 → 1.0 (code 15), -2 → -1.0 (0), 0 → 7, 0.5 → 0.25 nearest 0.2461 (10).
        let q = quantize(&[2.0, -2.0, 0.0, 0.5]);
        assert_eq!(q.absmax, vec![2.0]);
        assert_eq!(q.packed, vec![0xF0, 0x7A]);
        let back = dequantize(&q);
        assert_eq!(&back[..3], &[2.0, -2.0, 0.0]);
        assert!((back[3] - 0.492_224_6).abs() < 1e-6, "{back:?}");
    }

    #[test]
    fn odd_lengths_and_zero_blocks() {
        let mut v = vec![0.0f32; BLOCK];
        v.extend([1.0, -0.3, 0.7]);
        let q = quantize(&v);
        assert_eq!(q.absmax.len(), 2);
        assert_eq!(q.packed.len(), (BLOCK + 3).div_ceil(2));
        let back = dequantize(&q);
        assert!(back[..BLOCK].iter().all(|&x| x == 0.0));
        assert_eq!(back[BLOCK], 1.0);
    }
}
