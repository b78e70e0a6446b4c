//! Dequantization of Q5_0, Q5_1 and IQ4_NL: the 32-weight block types llama.cpp's quantizer falls
//! back to inside k-quant mixes. A k-quant needs rows that are a multiple of 256 weights; a row of
//! 576 (SmolLM2) or 896 (Qwen2.5-0.5B) is not, so a `Q4_K_M` file stores such tensors as Q5_0, a
//! `Q5_K_M` file as Q5_1, and the `Q2_K`/`Q3_K_*`/`IQ4_XS` presets as IQ4_NL (Q6_K falls back to
//! Q8_0, which `gguf.rs` reads with Q4_0/Q4_1).
//!
//! Every block holds 32 weights and starts with an f16 scale `d`. A weight is
//!
//! ```text
//!   Q5_0:    x = (q − 16) · d,       q ∈ [0, 32)   (5 bits)
//!   Q5_1:    x = q · d + m,          q ∈ [0, 32)   (5 bits, f16 min m)
//!   IQ4_NL:  x = d · K[q],           q ∈ [0, 16)   (4 bits indexing the non-linear table K)
//! ```
//!
//! Layouts (bytes, in order; ggml's `ggml-common.h`):
//!
//! | type   | bytes | fields                    |
//! |--------|-------|---------------------------|
//! | Q5_0   |  22   | `d qh[4] qs[16]`          |
//! | Q5_1   |  24   | `d m qh[4] qs[16]`        |
//! | IQ4_NL |  18   | `d qs[16]`                |
//!
//! As in Q4_0, byte `j` of `qs` holds weight `j` in its low nibble and weight `j + 16` in its high
//! nibble. In Q5_0/Q5_1 the fifth bit of weight `i` is bit `i` of `qh` read as a little-endian u32.
//! The products are taken as written above, in f32, as ggml and gguf-py do, so results agree with
//! them bit for bit.

use half::f16;

/// Weights per block of every type in this file.
pub const QK: usize = 32;

/// IQ4_NL's 16 levels (ggml's `kvalues_iq4nl`): spaced closer near zero, where most weights lie,
/// than a uniform 4-bit grid, for less error at the same 4.5 bits per weight.
pub const KVALUES_IQ4NL: [i8; 16] = [
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
];

/// One of the 32-weight fallback formats this reader dequantizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum Block32 {
    /// 5-bit symmetric quants (5.5 bits per weight); `Q4_K_M`'s fallback.
    Q5_0,
    /// 5-bit quants with an f16 min (6 bits per weight); `Q5_K_M`'s fallback.
    Q5_1,
    /// 4-bit indices into [`KVALUES_IQ4NL`] (4.5 bits per weight); the fallback of the 2–3-bit
    /// k-quants and the i-quants.
    IQ4_NL,
}

impl Block32 {
    /// Bytes of one 32-weight block, needed to size and bounds-check a tensor.
    pub const fn block_bytes(self) -> usize {
        match self {
            Self::Q5_0 => 2 + 4 + QK / 2,
            Self::Q5_1 => 4 + 4 + QK / 2,
            Self::IQ4_NL => 2 + QK / 2,
        }
    }

    /// Dequantizes whole blocks to f32, 32 values per block; a trailing partial block is ignored
    /// (callers size `bytes` from the tensor's shape).
    pub fn dequantize(self, bytes: &[u8]) -> Vec<f32> {
        let n_blocks = bytes.len() / self.block_bytes();
        let mut out = vec![0f32; n_blocks * QK];
        let blocks = bytes.chunks_exact(self.block_bytes());
        for (block, y) in blocks.zip(out.chunks_exact_mut(QK)) {
            let y: &mut [f32; QK] = y.try_into().expect("chunks of QK");
            match self {
                Self::Q5_0 => q5(block, false, y),
                Self::Q5_1 => q5(block, true, y),
                Self::IQ4_NL => iq4_nl(block, y),
            }
        }
        out
    }
}

/// The f16 at `block[at..at + 2]`, as f32 (exact).
fn f16_at(block: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([block[at], block[at + 1]]).to_f32()
}

/// The 4-bit value of weight `i` from the 16 bytes `qs` (low nibbles: weights 0–15, high: 16–31).
fn nibble(qs: &[u8], i: usize) -> u8 {
    (qs[i % 16] >> (4 * (i / 16))) & 0x0F
}

/// Q5_0 (`with_min` false): x = (q − 16)·d. Q5_1 (`with_min` true): x = q·d + m.
fn q5(block: &[u8], with_min: bool, y: &mut [f32; QK]) {
    let d = f16_at(block, 0);
    let head = if with_min { 4 } else { 2 };
    let m = if with_min { f16_at(block, 2) } else { 0.0 };
    let qh = u32::from_le_bytes([
        block[head],
        block[head + 1],
        block[head + 2],
        block[head + 3],
    ]);
    let qs = &block[head + 4..];
    for (i, x) in y.iter_mut().enumerate() {
        let high = ((qh >> i) & 1) as u8;
        let q = nibble(qs, i) | (high << 4);
        *x = if with_min {
            f32::from(q) * d + m
        } else {
            f32::from(i16::from(q) - 16) * d
        };
    }
}

/// IQ4_NL: x = d·K[q].
fn iq4_nl(block: &[u8], y: &mut [f32; QK]) {
    let d = f16_at(block, 0);
    let qs = &block[2..];
    for (i, x) in y.iter_mut().enumerate() {
        *x = d * f32::from(KVALUES_IQ4NL[usize::from(nibble(qs, i))]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A block of zeros except `d` (and `m` at byte 2 when given).
    fn block(kind: Block32, d: f32, m: Option<f32>) -> Vec<u8> {
        let mut b = vec![0u8; kind.block_bytes()];
        b[..2].copy_from_slice(&f16::from_f32(d).to_le_bytes());
        if let Some(m) = m {
            b[2..4].copy_from_slice(&f16::from_f32(m).to_le_bytes());
        }
        b
    }

    #[test]
    fn q5_0_fifth_bit_comes_from_qh_by_weight_index() {
        let mut b = block(Block32::Q5_0, 0.5, None);
        b[2..6].copy_from_slice(&(1u32 << 17 | 1).to_le_bytes()); // weights 0 and 17
        b[6] = 0x3F; // weight 0: low 15; weight 16: low 3
        b[6 + 1] = 0x20; // weight 17: low 2
        let y = Block32::Q5_0.dequantize(&b);
        assert_eq!(y[0], (31.0 - 16.0) * 0.5);
        assert_eq!(y[16], (3.0 - 16.0) * 0.5);
        assert_eq!(y[17], (18.0 - 16.0) * 0.5);
        assert_eq!(y[1], -16.0 * 0.5);
    }

    #[test]
    fn q5_1_adds_the_min() {
        let mut b = block(Block32::Q5_1, 0.25, Some(-1.0));
        b[4..8].copy_from_slice(&(1u32 << 31).to_le_bytes());
        b[8 + 15] = 0xF0; // weight 31: low 15, high bit set → q = 31
        let y = Block32::Q5_1.dequantize(&b);
        assert_eq!(y[31], 31.0 * 0.25 - 1.0);
        assert_eq!(y[0], -1.0);
    }

    #[test]
    fn iq4_nl_indexes_the_non_linear_table() {
        let mut b = block(Block32::IQ4_NL, 2.0, None);
        b[2] = 0xF0; // weight 0: K[0] = −127; weight 16: K[15] = 113
        let y = Block32::IQ4_NL.dequantize(&b);
        assert_eq!(y[0], -254.0);
        assert_eq!(y[16], 226.0);
        assert_eq!(y[1], -254.0);
    }

    #[test]
    fn partial_trailing_block_is_ignored() {
        let mut b = block(Block32::IQ4_NL, 1.0, None);
        b.extend_from_slice(&[0u8; 5]);
        assert_eq!(Block32::IQ4_NL.dequantize(&b).len(), QK);
    }
}
