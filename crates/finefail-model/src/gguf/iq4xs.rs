//! Dequantization of IQ4_XS: the default type of llama.cpp's `IQ4_XS` preset (4.25 bits per
//! weight), IQ4_NL's non-linear levels with a 6-bit scale per 32 weights inside a 256-weight
//! super-block. Its rows must be a multiple of 256; shorter ones fall back to IQ4_NL
//! ([`super::block32`]).
//!
//! Layout (bytes, in order; ggml's `block_iq4_xs` in `ggml-common.h`), 136 bytes per 256 weights:
//!
//! ```text
//!   d: f16   scales_h: u16 (LE)   scales_l: [u8; 4]   qs: [u8; 128]
//! ```
//!
//! Sub-block `ib` (0..8) of 32 weights has the 6-bit scale
//! `ls = (scales_l[ib/2] >> 4·(ib%2)) & 0xF | ((scales_h >> 2·ib) & 3) << 4` and
//! `dl = d · (ls − 32)`; its 16 bytes of `qs` hold weight `j` in the low nibble and `j + 16` in
//! the high nibble, each an index into [`KVALUES_IQ4NL`]: `x = dl · K[q]`. The products are taken
//! in that order in f32, as ggml and gguf-py do, so results agree with them bit for bit.

use super::block32::KVALUES_IQ4NL;
use half::f16;

/// Weights per IQ4_XS super-block.
pub const QK_K: usize = 256;

/// Bytes of one IQ4_XS super-block.
pub const BLOCK_BYTES: usize = 2 + 2 + QK_K / 64 + QK_K / 2;

/// Dequantizes whole super-blocks to f32, 256 values each; a trailing partial block is ignored
/// (callers size `bytes` from the tensor's shape).
pub fn dequantize(bytes: &[u8]) -> Vec<f32> {
    let n_blocks = bytes.len() / BLOCK_BYTES;
    let mut out = vec![0f32; n_blocks * QK_K];
    for (block, y) in bytes
        .chunks_exact(BLOCK_BYTES)
        .zip(out.chunks_exact_mut(QK_K))
    {
        let d = f16::from_le_bytes([block[0], block[1]]).to_f32();
        let scales_h = u16::from_le_bytes([block[2], block[3]]);
        let scales_l = &block[4..8];
        let qs = &block[8..];
        for ib in 0..QK_K / 32 {
            let low = (scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF;
            let high = ((scales_h >> (2 * ib)) & 3) as u8;
            let ls = i32::from(low | (high << 4));
            let dl = d * (ls - 32) as f32;
            let q = &qs[16 * ib..16 * ib + 16];
            let y = &mut y[32 * ib..32 * ib + 32];
            for j in 0..16 {
                y[j] = dl * f32::from(KVALUES_IQ4NL[usize::from(q[j] & 0xF)]);
                y[j + 16] = dl * f32::from(KVALUES_IQ4NL[usize::from(q[j] >> 4)]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hand_made_block() {
        // d = 1, every scale 33 (low nibble 1, high bits 0b10 → 1 | 2 << 4 = 33, so dl = 1);
        // qs byte 0x8F: weight 0 takes K[15] = 113, weight 16 K[8] = 1; the rest 0x00: K[0] = −127.
        let mut block = vec![0u8; BLOCK_BYTES];
        block[..2].copy_from_slice(&f16::from_f32(1.0).to_le_bytes());
        block[2..4].copy_from_slice(&0xAAAAu16.to_le_bytes());
        block[4..8].copy_from_slice(&[0x11; 4]);
        block[8] = 0x8F;
        let y = dequantize(&block);
        assert_eq!(y.len(), QK_K);
        assert_eq!((y[0], y[16], y[1], y[255]), (113.0, 1.0, -127.0, -127.0));
        // Scale 0 → dl = −32·d.
        block[2..8].copy_from_slice(&[0; 6]);
        assert_eq!(dequantize(&block)[0], -32.0 * 113.0);
        assert_eq!(BLOCK_BYTES, 136);
    }
}
