//! Device selection from the `--device` string shared by every command that runs a model:
//! `cpu` (burn's pure-Rust `flex` backend), `cuda:N` (burn-cuda, feature `cuda`), `tch-cpu` and
//! `tch-cuda:N` (LibTorch, feature `tch`). The model code is the same on all of them; only the device
//! differs. Asking for a device whose feature was not compiled in is a bad-input error naming it.

use crate::error::{ModelError, Result};
use burn::tensor::Device;

/// A parsed `--device` value, before it is turned into a burn [`Device`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceSpec {
    /// burn `flex`, the default CPU backend.
    Cpu,
    /// burn-cuda GPU `N`.
    Cuda(usize),
    /// LibTorch on the CPU.
    TchCpu,
    /// LibTorch on GPU `N`.
    TchCuda(usize),
}

impl DeviceSpec {
    /// Parses `cpu | cuda:N | tch-cpu | tch-cuda:N` (`cuda` and `tch-cuda` alone mean GPU 0).
    pub fn parse(spec: &str) -> Result<Self> {
        let bad = || {
            ModelError::bad_input(
                "--device",
                format!("unknown device `{spec}` (expected cpu, cuda:N, tch-cpu or tch-cuda:N)"),
            )
        };
        let index = |rest: &str| -> Result<usize> {
            match rest {
                "" => Ok(0),
                r => r
                    .strip_prefix(':')
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(bad),
            }
        };
        let s = spec.trim().to_ascii_lowercase();
        if s == "cpu" || s == "flex" {
            Ok(Self::Cpu)
        } else if s == "tch-cpu" {
            Ok(Self::TchCpu)
        } else if let Some(rest) = s.strip_prefix("tch-cuda") {
            Ok(Self::TchCuda(index(rest)?))
        } else if let Some(rest) = s.strip_prefix("cuda") {
            Ok(Self::Cuda(index(rest)?))
        } else {
            Err(bad())
        }
    }

    /// The cargo feature this device needs (`None` for the always-built CPU backend).
    pub fn feature(self) -> Option<&'static str> {
        match self {
            Self::Cpu => None,
            Self::Cuda(_) => Some("cuda"),
            Self::TchCpu | Self::TchCuda(_) => Some("tch"),
        }
    }

    /// The burn device, or [`ModelError::DeviceUnavailable`] when its feature was not compiled in.
    pub fn device(self) -> Result<Device> {
        let unavailable = |name: String, feature: &str| ModelError::DeviceUnavailable {
            device: name,
            feature: feature.into(),
        };
        match self {
            Self::Cpu => Ok(Device::flex()),
            #[cfg(feature = "cuda")]
            Self::Cuda(n) => Ok(Device::cuda(n)),
            #[cfg(not(feature = "cuda"))]
            Self::Cuda(n) => Err(unavailable(format!("cuda:{n}"), "cuda")),
            #[cfg(feature = "tch")]
            #[allow(deprecated)]
            Self::TchCpu => Ok(Device::libtorch()),
            #[cfg(feature = "tch")]
            #[allow(deprecated)]
            Self::TchCuda(n) => Ok(Device::libtorch_cuda(n)),
            #[cfg(not(feature = "tch"))]
            Self::TchCpu => Err(unavailable("tch-cpu".into(), "tch")),
            #[cfg(not(feature = "tch"))]
            Self::TchCuda(n) => Err(unavailable(format!("tch-cuda:{n}"), "tch")),
        }
    }
}

/// Parses a `--device` string straight into a burn [`Device`].
pub fn parse_device(spec: &str) -> Result<Device> {
    DeviceSpec::parse(spec)?.device()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!(DeviceSpec::parse("cpu").unwrap(), DeviceSpec::Cpu);
        assert_eq!(DeviceSpec::parse("cuda:1").unwrap(), DeviceSpec::Cuda(1));
        assert_eq!(DeviceSpec::parse("tch-cpu").unwrap(), DeviceSpec::TchCpu);
        assert_eq!(
            DeviceSpec::parse("tch-cuda:0").unwrap(),
            DeviceSpec::TchCuda(0)
        );
        assert!(DeviceSpec::parse("gpu").unwrap_err().is_bad_input());
        assert!(DeviceSpec::parse("cuda:x").is_err());
        assert!(parse_device("cpu").is_ok());
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn missing_feature_is_named() {
        let err = parse_device("cuda:0").unwrap_err();
        assert!(err.is_bad_input());
        assert!(err.to_string().contains("--features cuda"), "{err}");
    }
}
