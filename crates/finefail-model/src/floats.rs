//! Little-endian f16 and bf16 storage (safetensors, GGUF) decoded to f32: the one decoder every
//! checkpoint reader of the workspace calls. Both conversions are exact, so every f16 or bf16 value
//! comes out as the same f32 whichever reader decoded it.

use half::slice::{HalfBitsSliceExt, HalfFloatSliceExt};
use half::{bf16, f16};

/// IEEE half-precision values stored as little-endian byte pairs, as f32. A trailing odd byte is
/// ignored.
pub fn f16_to_f32(bytes: &[u8]) -> Vec<f32> {
    let bits = le_u16(bytes);
    let mut out = vec![0.0; bits.len()];
    bits.reinterpret_cast::<f16>()
        .convert_to_f32_slice(&mut out);
    out
}

/// bfloat16 values stored as little-endian byte pairs, as f32. A trailing odd byte is ignored.
pub fn bf16_to_f32(bytes: &[u8]) -> Vec<f32> {
    let bits = le_u16(bytes);
    let mut out = vec![0.0; bits.len()];
    bits.reinterpret_cast::<bf16>()
        .convert_to_f32_slice(&mut out);
    out
}

/// The 16-bit words of little-endian byte pairs (also aligns them, which the byte slice need not be).
fn le_u16(bytes: &[u8]) -> Vec<u16> {
    bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every one of the 65,536 bit patterns decodes exactly as the element-wise conversion does
    /// (NaNs compared by bits).
    #[test]
    fn slice_conversion_equals_elementwise_for_every_bit_pattern() {
        let bytes: Vec<u8> = (0..=u16::MAX).flat_map(u16::to_le_bytes).collect();
        let halves = f16_to_f32(&bytes);
        let brains = bf16_to_f32(&bytes);
        for (i, bits) in (0..=u16::MAX).enumerate() {
            assert_eq!(
                halves[i].to_bits(),
                f16::from_bits(bits).to_f32().to_bits(),
                "f16 {bits:#06x}"
            );
            assert_eq!(
                brains[i].to_bits(),
                bf16::from_bits(bits).to_f32().to_bits(),
                "bf16 {bits:#06x}"
            );
        }
    }

    #[test]
    fn odd_trailing_byte_is_ignored() {
        assert_eq!(f16_to_f32(&[0x00, 0x3c, 0x7f]), vec![1.0]);
        assert_eq!(bf16_to_f32(&[0x80, 0x3f, 0x01]), vec![1.0]);
    }
}
