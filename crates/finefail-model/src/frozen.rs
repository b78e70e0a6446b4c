//! The frozen weight of a projection as it lives on the device — f32, bf16 or f16 values, int8 codes
//! with per-channel scales, or packed NF4 codes with per-block absmax — and the one way every
//! forward reads it: [`FrozenWeight::dense_f32`], an f32 `[in, out]` tensor made on the fly.
//!
//! Made per forward, the f32 copy of a quantized or 16-bit weight lives only as long as the ops
//! that read it: in inference one layer at a time; in training autodiff keeps it for the backward
//! of `x · W` (∂x needs W), unless `train.gradient_checkpointing` recomputes each layer, which then
//! holds one layer's copy at a time. See `docs/precision.md`.

use crate::precision::{Precision, Quantize, WeightDtype};
use crate::quant::{int8, nf4};
use crate::weights::transpose;
use burn::module::{Module, Param};
use burn::tensor::{DType, Device, FloatDType, Int, Tensor, TensorData};

/// int8 codes `[out, in]` (i8 on the device) and one f32 scale per output row.
#[derive(Module, Debug)]
pub struct Int8Weight {
    /// Codes, `[out, in]`, dtype i8.
    pub codes: Tensor<2, Int>,
    /// `absmax / 127` per output row, `[out, 1]`.
    pub scales: Tensor<2>,
}

/// NF4 codes packed two per byte (u8 on the device) with one f32 absmax per block of 64.
#[derive(Module, Debug)]
pub struct Nf4Weight {
    /// Packed codes of the row-major `[out, in]` values, `[ceil(out·in / 2)]`, dtype u8.
    pub packed: Tensor<1, Int>,
    /// Absmax per block, `[blocks, 1]`.
    pub absmax: Tensor<2>,
    /// The 16 code values, `[16]`.
    pub code_book: Tensor<1>,
    /// Output width.
    pub d_out: usize,
    /// Input width.
    pub d_in: usize,
}

/// A projection's frozen weight in its storage form.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)] // one per projection; boxing would only add an indirection
pub enum FrozenWeight {
    /// Values `[in, out]` in f32, bf16 or f16.
    Dense(Param<Tensor<2>>),
    /// int8 per output channel.
    Int8(Int8Weight),
    /// NF4 blockwise.
    Nf4(Nf4Weight),
}

impl FrozenWeight {
    /// An f32 weight from input-major values, frozen (what `Linear::frozen` wraps).
    pub fn dense(weight: Tensor<2>) -> Self {
        Self::Dense(Param::from_tensor(weight).set_require_grad(false))
    }

    /// Stores a checkpoint's `[out, in]` values as `precision` asks, on `device`.
    pub fn from_checkpoint(
        values_out_in: &[f32],
        d_out: usize,
        d_in: usize,
        precision: Precision,
        device: &Device,
    ) -> Self {
        match precision.quantize {
            Quantize::None => {
                let data = TensorData::new(transpose(values_out_in, d_out, d_in), [d_in, d_out]);
                let dtype = precision.dtype.burn_dtype().unwrap_or(DType::F32);
                let t = if dtype == DType::F32 {
                    Tensor::from_data(data, device)
                } else {
                    Tensor::from_data(data, (device, dtype))
                };
                Self::dense(t)
            }
            Quantize::Int8 => {
                let q = int8::quantize(values_out_in, d_out, d_in);
                Self::Int8(Int8Weight {
                    codes: Tensor::from_data(
                        TensorData::new(q.codes, [d_out, d_in]),
                        (device, DType::I8),
                    ),
                    scales: Tensor::from_data(TensorData::new(q.scales, [d_out, 1]), device),
                })
            }
            Quantize::Nf4 => {
                let q = nf4::quantize(values_out_in);
                let (bytes, blocks) = (q.packed.len(), q.absmax.len());
                Self::Nf4(Nf4Weight {
                    packed: Tensor::from_data(
                        TensorData::new(q.packed, [bytes]),
                        (device, DType::U8),
                    ),
                    absmax: Tensor::from_data(TensorData::new(q.absmax, [blocks, 1]), device),
                    code_book: Tensor::from_data(
                        TensorData::new(nf4::CODE_BOOK.to_vec(), [16]),
                        device,
                    ),
                    d_out,
                    d_in,
                })
            }
        }
    }

    /// `(in, out)`.
    pub fn dims(&self) -> [usize; 2] {
        match self {
            Self::Dense(w) => w.dims(),
            Self::Int8(q) => {
                let [o, i] = q.codes.dims();
                [i, o]
            }
            Self::Nf4(q) => [q.d_in, q.d_out],
        }
    }

    /// The device the weight lives on.
    pub fn device(&self) -> Device {
        match self {
            Self::Dense(w) => w.device(),
            Self::Int8(q) => q.scales.device(),
            Self::Nf4(q) => q.absmax.device(),
        }
    }

    /// How the weight is stored (`Auto` never comes back; the compute dtype is the
    /// [`crate::lora::Linear`]'s, reported as f32 here).
    pub fn precision(&self) -> Precision {
        let (dtype, quantize) = match self {
            Self::Dense(w) => match w.val().dtype() {
                DType::BF16 => (WeightDtype::Bf16, Quantize::None),
                DType::F16 => (WeightDtype::F16, Quantize::None),
                _ => (WeightDtype::F32, Quantize::None),
            },
            Self::Int8(_) => (WeightDtype::F32, Quantize::Int8),
            Self::Nf4(_) => (WeightDtype::F32, Quantize::Nf4),
        };
        Precision {
            dtype,
            quantize,
            ..Precision::F32
        }
    }

    /// True when the weight is f32 values: forwards read it without a copy and LoRA can be
    /// merged into it.
    pub fn is_f32(&self) -> bool {
        matches!(self, Self::Dense(w) if w.val().dtype() == DType::F32)
    }

    /// Bytes the stored form occupies on the device (codes, scales and code book included).
    pub fn stored_bytes(&self) -> usize {
        match self {
            Self::Dense(w) => {
                let n: usize = w.dims().iter().product();
                n * w.val().dtype().size()
            }
            Self::Int8(q) => q.codes.dims().iter().product::<usize>() + 4 * q.scales.dims()[0],
            Self::Nf4(q) => q.packed.dims()[0] + 4 * q.absmax.dims()[0] + 4 * 16,
        }
    }

    /// The weight as `dtype` `[in, out]`: the stored tensor itself when it is stored so, else a
    /// copy made now (a cast, or a dequantization to f32 followed by a cast, on the weight's device).
    /// A 16-bit compute dtype reads a 16-bit base without any copy.
    pub fn dense_as(&self, dtype: FloatDType) -> Tensor<2> {
        let t = match self {
            Self::Dense(w) => w.val(),
            _ => self.dense_f32(),
        };
        if t.dtype() == DType::from(dtype) {
            t
        } else {
            t.cast(dtype)
        }
    }

    /// The weight as f32 `[in, out]`: the stored tensor itself when it is f32, else a copy made
    /// now (a cast, or a dequantization with tensor ops on the weight's device).
    pub fn dense_f32(&self) -> Tensor<2> {
        match self {
            Self::Dense(w) => {
                let t = w.val();
                if t.dtype() == DType::F32 {
                    t
                } else {
                    t.cast(FloatDType::F32)
                }
            }
            Self::Int8(q) => {
                (q.codes.clone().float().cast(FloatDType::F32) * q.scales.clone()).transpose()
            }
            Self::Nf4(q) => {
                let n = q.d_out * q.d_in;
                let bytes = q.packed.dims()[0];
                // Widened to i64, the one integer dtype every backend casts to (burn-tch 0.22
                // cannot cast to i32; `make check-gpu` found it).
                let wide = q.packed.clone().cast(burn::tensor::IntDType::I64);
                let high = wide.clone().div_scalar(16).reshape([bytes, 1]);
                let low = wide.remainder_scalar(16).reshape([bytes, 1]);
                let codes = Tensor::cat(vec![high, low], 1).reshape([2 * bytes]);
                let blocks = q.absmax.dims()[0];
                let padded = blocks * nf4::BLOCK;
                let mut values = q.code_book.clone().select(0, codes);
                // Pad or cut to whole blocks, scale, then drop the padding again.
                if padded > 2 * bytes {
                    let device = values.device();
                    values = Tensor::cat(
                        vec![values, Tensor::zeros([padded - 2 * bytes], &device)],
                        0,
                    );
                } else if padded < 2 * bytes {
                    values = values.narrow(0, 0, padded);
                }
                let scaled = values.reshape([blocks, nf4::BLOCK]) * q.absmax.clone();
                scaled
                    .reshape([padded])
                    .narrow(0, 0, n)
                    .reshape([q.d_out, q.d_in])
                    .transpose()
            }
        }
    }
}
