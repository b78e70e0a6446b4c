//! Dequantization of ggml's k-quants (Q2_K … Q6_K), the types most downloaded GGUF files use
//! (Q4_K_M and Q5_K_M files mix Q4_K/Q5_K with Q6_K, the small ones Q2_K/Q3_K).
//!
//! Every k-quant packs 256 weights into one *super-block*: an f16 scale `d` (and for the "min"
//! types an f16 `dmin`), a small scale (and min) per sub-block of 16 or 32 weights, and the
//! 2…6-bit quants. A weight is
//!
//! ```text
//!   types with mins (Q2_K, Q4_K, Q5_K):  x = (d · s_j) · q − (dmin · m_j),   q ∈ [0, 2^b)
//!   symmetric types (Q3_K, Q6_K):        x = (d · s_j) · q,                  q ∈ [−2^(b−1), 2^(b−1))
//! ```
//!
//! with `j` the sub-block of the weight. Layouts (bytes, in order; ggml's `ggml-common.h`):
//!
//! | type | bytes | fields                                               | sub-block |
//! |------|-------|------------------------------------------------------|-----------|
//! | Q2_K |  84   | `scales[16] qs[64] d dmin` (scale, min: 4 bits each)   | 16        |
//! | Q3_K | 110   | `hmask[32] qs[64] scales[12] d` (6-bit signed scales) | 16        |
//! | Q4_K | 144   | `d dmin scales[12] qs[128]` (6-bit scales and mins)   | 32        |
//! | Q5_K | 176   | `d dmin scales[12] qh[32] qs[128]`                    | 32        |
//! | Q6_K | 210   | `ql[128] qh[64] scales[16] d` (8-bit signed scales)   | 16        |
//!
//! The low bits of the quants are laid out so that a SIMD lane reads 32 consecutive weights: the
//! 256 weights fall in halves (Q2_K, Q3_K, Q6_K: 128 each) or chunks (Q4_K, Q5_K: 64 each), and
//! inside one, byte `l` holds weight `l` in its lowest bits, weight `l + 32` in the next bits, and so
//! on. High bits (Q3_K `hmask`, Q5_K `qh`, Q6_K `qh`) are spread the same way over their own bytes.
//! The products are taken in the order above, in f32, as ggml and gguf-py do, so results agree with
//! them bit for bit.

use half::f16;

/// Weights per super-block of every k-quant.
pub const QK_K: usize = 256;

/// One of the k-quant formats this reader dequantizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KQuant {
    /// 2-bit quants, 4-bit scale and min per 16 weights (2.625 bits per weight).
    Q2K,
    /// 3-bit quants, 6-bit signed scale per 16 weights (3.4375 bits per weight).
    Q3K,
    /// 4-bit quants, 6-bit scale and min per 32 weights (4.5 bits per weight).
    Q4K,
    /// 5-bit quants, 6-bit scale and min per 32 weights (5.5 bits per weight).
    Q5K,
    /// 6-bit quants, 8-bit signed scale per 16 weights (6.5625 bits per weight).
    Q6K,
}

impl KQuant {
    /// Bytes of one 256-weight super-block, needed to size and bounds-check a tensor.
    pub const fn block_bytes(self) -> usize {
        match self {
            Self::Q2K => 84,
            Self::Q3K => 110,
            Self::Q4K => 144,
            Self::Q5K => 176,
            Self::Q6K => 210,
        }
    }

    /// Dequantizes whole super-blocks to f32, 256 values per block; a trailing partial block is
    /// ignored (callers size `bytes` from the tensor's shape).
    pub fn dequantize(self, bytes: &[u8]) -> Vec<f32> {
        let n_blocks = bytes.len() / self.block_bytes();
        let mut out = vec![0f32; n_blocks * QK_K];
        let blocks = bytes.chunks_exact(self.block_bytes());
        for (block, y) in blocks.zip(out.chunks_exact_mut(QK_K)) {
            let y: &mut [f32; QK_K] = y.try_into().expect("chunks of QK_K");
            match self {
                Self::Q2K => q2_k(block, y),
                Self::Q3K => q3_k(block, y),
                Self::Q4K => q4_k(block, y),
                Self::Q5K => q5_k(block, y),
                Self::Q6K => q6_k(block, y),
            }
        }
        out
    }
}

/// The f16 at `block[at..at + 2]`, as f32 (exact).
fn f16_at(block: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([block[at], block[at + 1]]).to_f32()
}

/// Q2_K: per 16 weights one byte, scale in the low nibble, min in the high one;
/// x = (d·scale)·q − dmin·min with q = 2 bits of `qs`.
fn q2_k(block: &[u8], y: &mut [f32; QK_K]) {
    let (scales, qs) = (&block[..16], &block[16..80]);
    let (d, dmin) = (f16_at(block, 80), f16_at(block, 82));
    for (i, x) in y.iter_mut().enumerate() {
        let (half, shift, l) = (i / 128, (i % 128) / 32, i % 32);
        let q = (qs[half * 32 + l] >> (2 * shift)) & 3;
        let sc = scales[i / 16];
        let dl = d * f32::from(sc & 0xF);
        let ml = dmin * f32::from(sc >> 4);
        *x = dl * f32::from(q) - ml;
    }
}

/// Q3_K: q = 2 low bits of `qs` minus 4 when the weight's `hmask` bit is *clear*, so q ∈ [−4, 3];
/// x = (d·(scale − 32))·q.
fn q3_k(block: &[u8], y: &mut [f32; QK_K]) {
    let (hmask, qs, packed) = (&block[..32], &block[32..96], &block[96..108]);
    let d = f16_at(block, 108);
    let scales = q3_k_scales(packed);
    for (i, x) in y.iter_mut().enumerate() {
        let (half, shift, l) = (i / 128, (i % 128) / 32, i % 32);
        let low = ((qs[half * 32 + l] >> (2 * shift)) & 3) as i8;
        let high_set = (hmask[l] >> (half * 4 + shift)) & 1 == 1;
        let q = if high_set { low } else { low - 4 };
        let dl = d * f32::from(scales[i / 16]);
        *x = dl * f32::from(q);
    }
}

/// The sixteen 6-bit Q3_K scales, stored with an offset of 32: the low nibbles of scales 0–7 and
/// 8–15 are the low and high nibbles of bytes 0–7; their top two bits come from bytes 8–11, scale
/// `j` from byte `8 + j % 4` at bit `2·(j / 4)`.
fn q3_k_scales(packed: &[u8]) -> [i8; 16] {
    let mut out = [0i8; 16];
    for (j, s) in out.iter_mut().enumerate() {
        let low = (packed[j % 8] >> (4 * (j / 8))) & 0xF;
        let high = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
        *s = (low | (high << 4)) as i8 - 32;
    }
    out
}

/// The eight (scale, min) pairs of Q4_K/Q5_K, 6 bits each in 12 bytes: pairs 0–3 are the low six
/// bits of bytes 0–3 (scales) and 4–7 (mins); pairs 4–7 take their low nibble from bytes 8–11
/// (scale low, min high) and their top two bits from the top two bits of bytes 0–3 / 4–7.
fn k_scale_min(packed: &[u8]) -> [(u8, u8); 8] {
    let mut out = [(0u8, 0u8); 8];
    for (j, pair) in out.iter_mut().enumerate() {
        *pair = if j < 4 {
            (packed[j] & 63, packed[j + 4] & 63)
        } else {
            (
                (packed[j + 4] & 0xF) | ((packed[j - 4] >> 6) << 4),
                (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4),
            )
        };
    }
    out
}

/// Q4_K: 64-weight chunks; byte `l` of a chunk holds weight `l` (sub-block 2c) in its low nibble
/// and weight `l + 32` (sub-block 2c + 1) in its high one; x = (d·scale)·q − dmin·min.
fn q4_k(block: &[u8], y: &mut [f32; QK_K]) {
    let (d, dmin) = (f16_at(block, 0), f16_at(block, 2));
    let sm = k_scale_min(&block[4..16]);
    let qs = &block[16..144];
    for (i, x) in y.iter_mut().enumerate() {
        let (chunk, nibble, l) = (i / 64, (i % 64) / 32, i % 32);
        let q = (qs[chunk * 32 + l] >> (4 * nibble)) & 0xF;
        let (sc, m) = sm[i / 32];
        *x = d * f32::from(sc) * f32::from(q) - dmin * f32::from(m);
    }
}

/// Q5_K: Q4_K's nibbles plus a fifth bit, bit `j` of `qh[l]` for weight `l` of sub-block `j`.
fn q5_k(block: &[u8], y: &mut [f32; QK_K]) {
    let (d, dmin) = (f16_at(block, 0), f16_at(block, 2));
    let sm = k_scale_min(&block[4..16]);
    let (qh, qs) = (&block[16..48], &block[48..176]);
    for (i, x) in y.iter_mut().enumerate() {
        let (chunk, nibble, l) = (i / 64, (i % 64) / 32, i % 32);
        let low = (qs[chunk * 32 + l] >> (4 * nibble)) & 0xF;
        let high = (qh[l] >> (i / 32)) & 1;
        let q = low | (high << 4);
        let (sc, m) = sm[i / 32];
        *x = d * f32::from(sc) * f32::from(q) - dmin * f32::from(m);
    }
}

/// Q6_K: per 128-weight half, `ql` (64 bytes) holds weights `l` and `l + 64` in its low and high
/// nibbles, `qh` (32 bytes) the top two bits of weights `l`, `l + 32`, `l + 64`, `l + 96` at bits
/// 0, 2, 4, 6; q = 6 bits − 32, x = (d·scale)·q with a signed 8-bit scale per 16 weights.
fn q6_k(block: &[u8], y: &mut [f32; QK_K]) {
    let (ql, qh, scales) = (&block[..128], &block[128..192], &block[192..208]);
    let d = f16_at(block, 208);
    for (i, x) in y.iter_mut().enumerate() {
        let (half, r) = (i / 128, i % 128);
        let low = (ql[half * 64 + r % 64] >> (4 * (r / 64))) & 0xF;
        let high = (qh[half * 32 + r % 32] >> (2 * (r / 32))) & 3;
        let q = (low | (high << 4)) as i8 - 32;
        let dl = d * f32::from(scales[i / 16] as i8);
        *x = dl * f32::from(q);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A block of zeros except the f16 fields given as (offset, value).
    fn block(kind: KQuant, f16s: &[(usize, f32)]) -> Vec<u8> {
        let mut b = vec![0u8; kind.block_bytes()];
        for &(at, v) in f16s {
            b[at..at + 2].copy_from_slice(&f16::from_f32(v).to_le_bytes());
        }
        b
    }

    #[test]
    fn q4_k_scale_and_min_of_the_first_and_last_sub_block() {
        // Sub-block 0: scale 3, min 2; sub-block 7: scale 0x25 (low nibble 5 from byte 11, top
        // bits 0b10 from byte 3), min 0x1A (high nibble of byte 11 = 0xA, top bits 0b01 of byte 7).
        let mut b = block(KQuant::Q4K, &[(0, 0.5), (2, 0.25)]);
        b[4] = 3;
        b[8] = 2;
        b[4 + 3] = 0b1000_0000;
        b[4 + 7] = 0b0100_0000;
        b[4 + 11] = 0xA5;
        b[16] = 0x07; // weight 0: q = 7
        b[16 + 127] = 0xF0; // weight 255 (chunk 3, high nibble, l = 31): q = 15
        let y = KQuant::Q4K.dequantize(&b);
        assert_eq!(y[0], 0.5 * 3.0 * 7.0 - 0.25 * 2.0);
        assert_eq!(y[1], -0.5);
        assert_eq!(y[255], 0.5 * 37.0 * 15.0 - 0.25 * 26.0);
        assert_eq!(y[224], -0.25 * 26.0);
    }

    #[test]
    fn q6_k_all_zero_quants_are_minus_32_times_the_scale() {
        let mut b = block(KQuant::Q6K, &[(208, 0.5)]);
        b[192] = 1;
        b[192 + 15] = (-2i8) as u8;
        let y = KQuant::Q6K.dequantize(&b);
        assert_eq!(y[0], -16.0);
        assert_eq!(y[16], -0.0);
        assert_eq!(y[255], 32.0);
    }

    #[test]
    fn q3_k_high_bit_set_means_no_offset() {
        let mut b = block(KQuant::Q3K, &[(108, 1.0)]);
        // Scale 0 = 33 − 32 = 1: low nibble 1 (byte 96), top bits 0b10 (byte 104, bits 0–1).
        b[96] = 0x01;
        b[104] = 0x02;
        b[32] = 0x03; // weight 0: low bits 3
        b[0] = 0x01; // weight 0: hmask bit 0 set → q = 3
        let y = KQuant::Q3K.dequantize(&b);
        assert_eq!(y[0], 3.0);
        assert_eq!(y[1], -4.0); // low bits 0, hmask clear → q = −4
    }

    #[test]
    fn partial_trailing_block_is_ignored() {
        let b = vec![0u8; KQuant::Q2K.block_bytes() + 10];
        assert_eq!(KQuant::Q2K.dequantize(&b).len(), QK_K);
    }
}
