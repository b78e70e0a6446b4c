//! How the frozen base lives on the device: its storage dtype (`--dtype`, config `model.dtype`) and
//! whether it is quantized (`--quantize`, config `model.quantize`).
//!
//! The storage of the frozen base changes, and with it, on a GPU, the dtype its projections are
//! multiplied in (`--compute-dtype`, config `compute_dtype`): `auto` is f32 on the CPU backends —
//! every projection computed in f32 from a weight materialised per layer on the fly (cast from
//! bf16/f16, or dequantized from int8/NF4) — and, on a GPU, the base's 16-bit dtype: `x` is cast down,
//! multiplied with the stored (or dequantized) 16-bit weight on the tensor cores, and the product cast
//! back to f32, as bitsandbytes' `compute_dtype` and a bf16 PEFT model do. LoRA A/B, their gradients,
//! the optimizer state, norms, attention, the loss and softmax statistics are always f32 — as PEFT
//! does with `autocast_adapter_dtype`. A 7B base then
//! needs 13.5 GB (bf16), 6.7 GB (int8) or 3.6 GB (NF4) instead of 27 GB. What is quantized: the
//! decoder's linear projections (attention, MLP, experts); embeddings and the output head keep the
//! storage dtype, norms and the MoE router stay f32 (bitsandbytes leaves the same ones alone).

use crate::device::DeviceSpec;
use crate::error::{ModelError, Result};
use crate::weights::Checkpoint;
use burn::tensor::{DType, FloatDType};
use std::fmt;
use std::path::Path;

/// The storage dtype of the frozen base, as the user asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WeightDtype {
    /// The checkpoint's own dtype on GPU backends; f32 on the CPU backends (where burn's f32 gemm
    /// is faster than its bf16 one, as measured for burn 0.22, and the fused kernels are f32).
    #[default]
    Auto,
    /// 32-bit floats.
    F32,
    /// bfloat16.
    Bf16,
    /// IEEE half precision.
    F16,
}

impl WeightDtype {
    /// Parses `auto | f32 | bf16 | f16` (the `--dtype` flag and `model.dtype`).
    pub fn parse(s: &str) -> Result<Self> {
        Self::parse_option(s, "--dtype")
    }

    /// Parses `auto | f32 | bf16 | f16` for the option named `flag` (named in the error).
    pub fn parse_option(s: &str, flag: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "f32" | "float32" => Ok(Self::F32),
            "bf16" | "bfloat16" => Ok(Self::Bf16),
            "f16" | "float16" | "half" => Ok(Self::F16),
            other => Err(ModelError::bad_input(
                flag,
                format!("unknown dtype `{other}` (expected auto, f32, bf16 or f16)"),
            )),
        }
    }

    /// The float dtype (`auto` counts as f32).
    pub fn float_dtype(self) -> FloatDType {
        match self {
            Self::Auto | Self::F32 => FloatDType::F32,
            Self::Bf16 => FloatDType::BF16,
            Self::F16 => FloatDType::F16,
        }
    }

    /// The burn dtype once `auto` is resolved.
    pub fn burn_dtype(self) -> Option<DType> {
        match self {
            Self::Auto => None,
            Self::F32 => Some(DType::F32),
            Self::Bf16 => Some(DType::BF16),
            Self::F16 => Some(DType::F16),
        }
    }

    /// Bytes per stored value (`auto` counts as f32).
    pub fn bytes(self) -> f64 {
        match self {
            Self::Auto | Self::F32 => 4.0,
            Self::Bf16 | Self::F16 => 2.0,
        }
    }
}

impl fmt::Display for WeightDtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::F32 => "f32",
            Self::Bf16 => "bf16",
            Self::F16 => "f16",
        })
    }
}

/// Whether the frozen projections are stored quantized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Quantize {
    /// Stored in the storage dtype.
    #[default]
    None,
    /// int8 codes with one f32 absmax scale per output channel (LLM.int8 without the outlier split).
    Int8,
    /// 4-bit NormalFloat codes with one f32 absmax per block of 64 values (QLoRA, no double
    /// quantization).
    Nf4,
}

impl Quantize {
    /// Parses `none | int8 | nf4` (the `--quantize` flag and `model.quantize`).
    pub fn parse(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" | "" => Ok(Self::None),
            "int8" | "8bit" => Ok(Self::Int8),
            "nf4" | "4bit" => Ok(Self::Nf4),
            other => Err(ModelError::bad_input(
                "--quantize",
                format!("unknown quantization `{other}` (expected none, int8 or nf4)"),
            )),
        }
    }

    /// Stored bytes per weight of a `[out, in]` projection, scales included.
    pub fn bytes_per_weight(self, storage: WeightDtype, d_in: usize) -> f64 {
        match self {
            Self::None => storage.bytes(),
            Self::Int8 => 1.0 + 4.0 / d_in as f64,
            Self::Nf4 => 0.5 + 4.0 / crate::quant::nf4::BLOCK as f64,
        }
    }
}

impl fmt::Display for Quantize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::None => "none",
            Self::Int8 => "int8",
            Self::Nf4 => "nf4",
        })
    }
}

/// How to load a checkpoint's frozen base: the one value every model-loading command carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Precision {
    /// Storage dtype (`auto` resolved by [`Precision::resolve`]).
    pub dtype: WeightDtype,
    /// Quantization of the projections.
    pub quantize: Quantize,
    /// The dtype the frozen projections are multiplied in (`auto` resolved by
    /// [`Precision::resolve`]: the base's 16-bit dtype on a GPU, f32 on a CPU).
    pub compute: WeightDtype,
}

impl Precision {
    /// f32, not quantized: what every loader did before precision options existed.
    pub const F32: Self = Self {
        dtype: WeightDtype::F32,
        quantize: Quantize::None,
        compute: WeightDtype::F32,
    };

    /// Parses the two storage option strings (flags or config keys); the compute dtype is `auto`.
    pub fn parse(dtype: &str, quantize: &str) -> Result<Self> {
        Ok(Self {
            dtype: WeightDtype::parse(dtype)?,
            quantize: Quantize::parse(quantize)?,
            compute: WeightDtype::Auto,
        })
    }

    /// The same storage with the compute dtype `compute` (`--compute-dtype`, config
    /// `compute_dtype`: auto, f32, bf16 or f16).
    pub fn with_compute(self, compute: &str) -> Result<Self> {
        Ok(Self {
            compute: WeightDtype::parse_option(compute, "--compute-dtype")?,
            ..self
        })
    }

    /// The dtype the projections multiply in, once resolved (`auto` counts as f32).
    pub fn compute_dtype(self) -> FloatDType {
        self.compute.float_dtype()
    }

    /// Resolves `auto` for `device` (the checkpoint's dominant float dtype on a GPU, f32 on a CPU)
    /// and checks that the device can hold the base this way; the error names the device and what
    /// it can do.
    pub fn resolve(
        self,
        device: DeviceSpec,
        checkpoint_dtype: Option<WeightDtype>,
    ) -> Result<Self> {
        let gpu = matches!(device, DeviceSpec::Cuda(_) | DeviceSpec::TchCuda(_));
        let dtype = match self.dtype {
            WeightDtype::Auto if gpu => checkpoint_dtype
                .filter(|d| *d != WeightDtype::Auto)
                .unwrap_or(WeightDtype::Bf16),
            WeightDtype::Auto => WeightDtype::F32,
            d => d,
        };
        let compute = match self.compute {
            WeightDtype::Auto if gpu && matches!(dtype, WeightDtype::Bf16 | WeightDtype::F16) => {
                dtype
            }
            WeightDtype::Auto => WeightDtype::F32,
            c => c,
        };
        let resolved = Self {
            dtype,
            quantize: self.quantize,
            compute,
        };
        if let Some(why) = unsupported(device, resolved) {
            return Err(ModelError::bad_input("--device", why));
        }
        Ok(resolved)
    }
}

impl Precision {
    /// [`Precision::resolve`] with the dominant float dtype of the checkpoint in `dir` (read from
    /// its headers only when `auto` needs it).
    pub fn resolve_for_checkpoint(self, device: DeviceSpec, dir: &Path) -> Result<Self> {
        let needs_dtype = self.dtype == WeightDtype::Auto;
        let dtype = if needs_dtype {
            dominant_dtype(&Checkpoint::open_dir(dir)?.dtypes())
        } else {
            None
        };
        self.resolve(device, dtype)
    }
}

/// The float dtype most tensors of a checkpoint are stored in (`dtypes()` counts, lower-case names).
fn dominant_dtype(counts: &std::collections::BTreeMap<String, usize>) -> Option<WeightDtype> {
    counts
        .iter()
        .filter_map(|(name, &n)| {
            let d = match name.as_str() {
                "bf16" => WeightDtype::Bf16,
                "f16" => WeightDtype::F16,
                "f32" => WeightDtype::F32,
                _ => return None,
            };
            Some((n, d))
        })
        .max_by_key(|(n, _)| *n)
        .map(|(_, d)| d)
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.quantize {
            Quantize::None => write!(f, "{}", self.dtype)?,
            q => write!(f, "{} ({q})", self.dtype)?,
        }
        match self.compute {
            WeightDtype::Bf16 | WeightDtype::F16 => write!(f, ", {} compute", self.compute),
            _ => Ok(()),
        }
    }
}

/// Why `device` cannot hold a base stored as `p`, or `None` when it can. burn-cuda is untested
/// here (it cannot be built on these machines) and its integer storage unverified, so it is
/// limited to unquantized float storage; the LibTorch and flex backends do everything.
fn unsupported(device: DeviceSpec, p: Precision) -> Option<String> {
    match device {
        DeviceSpec::Cuda(n) if p.quantize != Quantize::None => Some(format!(
            "device cuda:{n} (burn-cuda) cannot store a quantized base (`{}`); it can do \
             --quantize none with --dtype f32, bf16 or f16 — use tch-cuda:{n} for int8 or nf4",
            p.quantize
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_names_bad_values() {
        assert_eq!(WeightDtype::parse("BF16").unwrap(), WeightDtype::Bf16);
        assert_eq!(Quantize::parse("nf4").unwrap(), Quantize::Nf4);
        let e = WeightDtype::parse("fp8").unwrap_err();
        assert!(e.is_bad_input() && e.to_string().contains("fp8"), "{e}");
        let e = Quantize::parse("q4").unwrap_err();
        assert!(e.to_string().contains("none, int8 or nf4"), "{e}");
    }

    #[test]
    fn auto_is_f32_on_cpu_and_the_checkpoint_dtype_on_gpu() {
        let auto = Precision::default();
        let cpu = auto
            .resolve(DeviceSpec::Cpu, Some(WeightDtype::Bf16))
            .unwrap();
        assert_eq!(cpu.dtype, WeightDtype::F32);
        let gpu = auto
            .resolve(DeviceSpec::TchCuda(0), Some(WeightDtype::F16))
            .unwrap();
        assert_eq!(gpu.dtype, WeightDtype::F16);
        let gpu = auto.resolve(DeviceSpec::TchCuda(0), None).unwrap();
        assert_eq!(gpu.dtype, WeightDtype::Bf16);
    }

    #[test]
    fn auto_compute_is_the_16_bit_base_on_gpu_and_f32_elsewhere() {
        let resolve = |dtype: &str, quantize: &str, compute: &str, device| {
            Precision::parse(dtype, quantize)
                .unwrap()
                .with_compute(compute)
                .unwrap()
                .resolve(device, Some(WeightDtype::Bf16))
                .unwrap()
        };
        let gpu = DeviceSpec::TchCuda(0);
        assert_eq!(
            resolve("auto", "none", "auto", gpu).compute,
            WeightDtype::Bf16
        );
        assert_eq!(resolve("f16", "nf4", "auto", gpu).compute, WeightDtype::F16);
        assert_eq!(
            resolve("f32", "none", "auto", gpu).compute,
            WeightDtype::F32
        );
        assert_eq!(
            resolve("bf16", "none", "auto", DeviceSpec::TchCpu).compute,
            WeightDtype::F32
        );
        assert_eq!(
            resolve("bf16", "none", "f32", gpu).compute,
            WeightDtype::F32
        );
        let forced = resolve("bf16", "int8", "bf16", DeviceSpec::Cpu);
        assert_eq!(forced.compute_dtype(), FloatDType::BF16);
        assert_eq!(forced.to_string(), "bf16 (int8), bf16 compute");
        assert_eq!(Precision::F32.to_string(), "f32");
        let e = Precision::default().with_compute("fp8").unwrap_err();
        assert!(e.to_string().contains("--compute-dtype"), "{e}");
    }

    #[test]
    fn a_device_that_cannot_quantize_says_what_it_can_do() {
        let p = Precision::parse("bf16", "nf4").unwrap();
        let e = p.resolve(DeviceSpec::Cuda(1), None).unwrap_err();
        assert!(e.is_bad_input());
        let m = e.to_string();
        assert!(m.contains("cuda:1") && m.contains("--quantize none"), "{m}");
        assert!(p.resolve(DeviceSpec::TchCpu, None).is_ok());
    }
}
