//! Quantized storage of frozen projections: the code books and the host-side quantizers
//! ([`nf4`], [`int8`]). The device-side weight that dequantizes itself per forward is
//! [`crate::frozen::FrozenWeight`].
//!
//! burn 0.22 has quantized tensors of its own (`burn::tensor::quantization`: uniform int8/int4/int2
//! and fp8/fp4 schemes), but no code-book format like NF4, and its quantized matmul under autodiff
//! is not available on every backend finefail runs on. So both formats are stored here as plain
//! integer tensors (i8 codes, NF4 nibbles packed two per u8) beside f32 scales, and dequantized with
//! ordinary tensor ops — the same code on flex, LibTorch CPU and LibTorch CUDA.

pub mod int8;
pub mod nf4;
