//! The storage dtype of a converted checkpoint (`model convert --dtype bf16|f16|f32`) and the
//! f32 → stored-bytes encoding.
//!
//! bf16 is the default, as Hugging Face publishes Llama-family models: half the size of f32, and a
//! k-quant's dequantized values lose little in it. f32 keeps every dequantized value exactly (the
//! default study's checkpoint is converted in f32, so its numbers do not move). f16 has more
//! mantissa than bf16 but overflows above 65504, which the writer refuses rather than store `inf`.
//! Rounding is to nearest, ties to even (the `half` crate), as PyTorch's `.to(torch.bfloat16)`.

use std::str::FromStr;

use half::slice::HalfFloatSliceExt;
use half::{bf16, f16};

/// The dtype `model.safetensors` is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutDtype {
    /// bfloat16: f32's range, 8 bits of mantissa; half the bytes of f32.
    #[default]
    Bf16,
    /// IEEE half: 11 bits of mantissa, largest finite value 65504.
    F16,
    /// f32: every dequantized GGUF value kept exactly.
    F32,
}

impl OutDtype {
    /// Every dtype, in the order messages list them.
    pub const ALL: [OutDtype; 3] = [Self::Bf16, Self::F16, Self::F32];

    /// The name users type (`--dtype bf16`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Bf16 => "bf16",
            Self::F16 => "f16",
            Self::F32 => "f32",
        }
    }

    /// The safetensors header's name for the dtype.
    pub(crate) fn safetensors_name(self) -> &'static str {
        match self {
            Self::Bf16 => "BF16",
            Self::F16 => "F16",
            Self::F32 => "F32",
        }
    }

    /// `config.json`'s `torch_dtype` for the dtype, as transformers writes it.
    pub(crate) fn torch_dtype(self) -> &'static str {
        match self {
            Self::Bf16 => "bfloat16",
            Self::F16 => "float16",
            Self::F32 => "float32",
        }
    }

    /// Bytes per stored value.
    pub fn size(self) -> usize {
        match self {
            Self::Bf16 | Self::F16 => 2,
            Self::F32 => 4,
        }
    }

    /// `values` as little-endian bytes of this dtype (round to nearest even). `Err` carries the
    /// largest magnitude when a finite value would become infinite in f16.
    pub(crate) fn encode(self, values: &[f32]) -> Result<Vec<u8>, f32> {
        let mut out = Vec::with_capacity(values.len() * self.size());
        match self {
            Self::F32 => values
                .iter()
                .for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
            Self::Bf16 => {
                let mut halves = vec![bf16::ZERO; values.len()];
                halves.convert_from_f32_slice(values);
                halves
                    .iter()
                    .for_each(|h| out.extend_from_slice(&h.to_le_bytes()));
            }
            Self::F16 => {
                let mut halves = vec![f16::ZERO; values.len()];
                halves.convert_from_f32_slice(values);
                let overflow = values
                    .iter()
                    .zip(&halves)
                    .any(|(v, h)| v.is_finite() && h.is_infinite());
                if overflow {
                    return Err(values.iter().fold(0f32, |m, v| m.max(v.abs())));
                }
                halves
                    .iter()
                    .for_each(|h| out.extend_from_slice(&h.to_le_bytes()));
            }
        }
        Ok(out)
    }
}

impl FromStr for OutDtype {
    type Err = String;

    /// Parses `bf16`, `f16` or `f32`; the error names what is supported.
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|d| d.name() == s)
            .ok_or_else(|| format!("unknown dtype `{s}` (supported: bf16, f16, f32)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_names_and_names_them_when_wrong() {
        for d in OutDtype::ALL {
            assert_eq!(d.name().parse::<OutDtype>(), Ok(d));
        }
        let err = "fp8".parse::<OutDtype>().unwrap_err();
        assert!(
            err.contains("fp8") && err.contains("bf16, f16, f32"),
            "{err}"
        );
    }

    #[test]
    fn rounds_to_nearest_even() {
        // 1 + 2^-8 lies halfway between the bf16 neighbours 1 and 1 + 2^-7: ties go to the even 1.
        // 1 + 3·2^-8 lies halfway between 1 + 2^-7 and 1 + 2^-6: ties go to the even 1 + 2^-6.
        let got = OutDtype::Bf16
            .encode(&[1.0 + 2f32.powi(-8), 1.0 + 3.0 * 2f32.powi(-8), -2.5])
            .unwrap();
        let bits: Vec<u16> = got
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(bits, vec![0x3F80, 0x3F82, 0xC020]);
        let f = OutDtype::F16.encode(&[1.0 + 2f32.powi(-11)]).unwrap();
        assert_eq!(u16::from_le_bytes([f[0], f[1]]), 0x3C00);
        assert_eq!(OutDtype::F32.encode(&[0.1]).unwrap(), 0.1f32.to_le_bytes());
    }

    #[test]
    fn f16_overflow_is_refused_with_the_largest_magnitude() {
        assert_eq!(OutDtype::F16.encode(&[1.0, -70000.0]), Err(70000.0));
        assert!(OutDtype::F16.encode(&[65504.0]).is_ok());
        assert!(OutDtype::Bf16.encode(&[1e30]).is_ok());
    }
}
