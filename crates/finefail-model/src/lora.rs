//! The linear layer of the decoder, with an optional LoRA adapter beside its frozen weight.
//!
//! `y = W x + b + (alpha / r) · B(A(dropout(x)))`, as PEFT computes it: A drawn like PEFT's
//! `kaiming_uniform_(a = sqrt(5))`, i.e. U(-1/sqrt(in), 1/sqrt(in)), B zero so a fresh adapter changes
//! nothing. The base weight and bias are frozen parameters (no gradient, never seen by an optimizer);
//! only A and B are trainable. burn's own `apply_lora` is not used: it adds `scale·(A·B)` to the weight
//! (a full weight-sized gradient per layer), draws A from a normal and has no dropout.
//!
//! Storage is input-major (`weight` is `[in, out]`, A `[in, r]`, B `[r, out]`) so every forward is a
//! plain `x · W` without per-call transposes; PEFT's `[r, in]` / `[out, r]` layout is produced at save time.

use crate::frozen::FrozenWeight;
use crate::ops;
use crate::weights::transpose;
use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig};
use burn::tensor::{Device, FloatDType, Tensor, TensorData};
use finefail_core::splitmix::SplitMix64;

/// The projection names LoRA may target (Hugging Face / PEFT module names).
pub const TARGETABLE: [&str; 7] = [
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
];

/// How adapters are attached: rank, scale, dropout, which projections, and the seed of A's draw.
#[derive(Debug, Clone, PartialEq)]
pub struct LoraConfig {
    /// Rank r of the update B·A.
    pub r: usize,
    /// Scale numerator: the update is multiplied by `alpha / r`.
    pub alpha: f64,
    /// Dropout probability on the adapter's input (active only while training on an autodiff device).
    pub dropout: f64,
    /// Projection names to wrap (a subset of [`TARGETABLE`]).
    pub targets: Vec<String>,
    /// Seed of the Kaiming-uniform draw of every A (each layer derives its own stream from it).
    pub seed: u64,
}

impl LoraConfig {
    /// The scale `alpha / r` applied to the adapter path.
    pub fn scale(&self) -> f64 {
        self.alpha / self.r as f64
    }

    /// Checks rank, dropout and target names; returns a message describing the first problem.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.r == 0 {
            return Err("LoRA rank r must be positive".into());
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(format!(
                "LoRA dropout must be in [0, 1), got {}",
                self.dropout
            ));
        }
        if !self.alpha.is_finite() || self.alpha <= 0.0 {
            return Err(format!("LoRA alpha must be positive, got {}", self.alpha));
        }
        if self.targets.is_empty() {
            return Err("LoRA needs at least one target module".into());
        }
        for t in &self.targets {
            if !TARGETABLE.contains(&t.as_str()) {
                return Err(format!(
                    "unknown LoRA target `{t}` (expected one of {})",
                    TARGETABLE.join(", ")
                ));
            }
        }
        Ok(())
    }
}

/// The trainable low-rank pair of one adapted projection.
#[derive(Module, Debug)]
pub struct LoraAdapter {
    /// A, `[in, r]` (PEFT's `lora_A.weight` transposed).
    pub a: Param<Tensor<2>>,
    /// B, `[r, out]` (PEFT's `lora_B.weight` transposed).
    pub b: Param<Tensor<2>>,
    /// Dropout on the adapter input.
    pub dropout: Dropout,
    /// `alpha / r`.
    pub scale: f64,
}

/// A frozen projection `x · W + b`, optionally with a LoRA adapter.
#[derive(Module, Debug)]
pub struct Linear {
    /// W, `[in, out]` (the checkpoint's `[out, in]` transposed once at load), frozen, in its
    /// storage form (f32, bf16/f16, int8 or NF4; see [`FrozenWeight`]).
    pub weight: FrozenWeight,
    /// Optional bias `[out]`, frozen.
    pub bias: Option<Param<Tensor<1>>>,
    /// The adapter, when this projection is a LoRA target.
    pub lora: Option<LoraAdapter>,
    /// True while the adapter's update is folded into `weight` (then the adapter path is skipped).
    pub merged: bool,
    /// The dtype `x · W` is multiplied in: f32, or on a GPU the base's 16-bit dtype (`x` is cast
    /// down and the product back up to f32; see `crate::precision`). The adapter is always f32.
    #[module(skip)]
    pub compute: FloatDType,
}

impl Linear {
    /// A frozen projection from values in input-major layout (`weight` `[in, out]`).
    pub fn frozen(weight: Tensor<2>, bias: Option<Tensor<1>>) -> Self {
        Self {
            weight: FrozenWeight::dense(weight),
            bias: bias.map(|b| Param::from_tensor(b).set_require_grad(false)),
            lora: None,
            merged: false,
            compute: FloatDType::F32,
        }
    }

    /// A frozen projection around a weight already in its storage form.
    pub fn from_weight(weight: FrozenWeight, bias: Option<Tensor<1>>) -> Self {
        Self {
            weight,
            bias: bias.map(|b| Param::from_tensor(b).set_require_grad(false)),
            lora: None,
            merged: false,
            compute: FloatDType::F32,
        }
    }

    /// The same projection multiplying `x · W` in `compute` (f32 = the plain path).
    pub fn computing_in(self, compute: FloatDType) -> Self {
        Self { compute, ..self }
    }

    /// Input width.
    pub fn d_in(&self) -> usize {
        self.weight.dims()[0]
    }

    /// Output width.
    pub fn d_out(&self) -> usize {
        self.weight.dims()[1]
    }

    /// `x · W + b + scale · (dropout(x) · A) · B` over the last dimension of `x`.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        self.forward_shared(&ProjectionInput::f32(x))
    }

    /// [`Linear::forward`] of an input that other projections read too (its compute-dtype copy
    /// made once for all of them); the output in f32.
    pub fn forward_shared<const D: usize>(&self, input: &ProjectionInput<D>) -> Tensor<D> {
        let x_f32 = || input.as_f32();
        let mut y = if self.compute == FloatDType::F32 {
            let (x, w) = (x_f32(), self.weight.dense_f32());
            ops::linear_rows(&x, &w).unwrap_or_else(|| x.matmul(w.unsqueeze::<D>()))
        } else {
            self.product_in_compute(input).cast(FloatDType::F32)
        };
        if let Some(b) = &self.bias {
            y = y + b.val().unsqueeze::<D>();
        }
        match self.active_adapter() {
            Some(l) => y + Self::adapter_update(l, x_f32()),
            None => y,
        }
    }

    /// The same value as [`Linear::forward_shared`], left in the compute dtype when that is
    /// 16-bit: for a projection whose output only feeds the next projection (SwiGLU's gate and up
    /// feed down), so the product is not cast up to f32 and back down again. With an adapter or a
    /// bias the sum is taken in f32 and rounded once, as PEFT adds its f32 adapter to a bf16 base:
    /// the value is always `forward`'s rounded to the compute dtype.
    pub fn forward_in_compute<const D: usize>(&self, input: &ProjectionInput<D>) -> Tensor<D> {
        if self.compute == FloatDType::F32 {
            return self.forward_shared(input);
        }
        if self.active_adapter().is_some() || self.bias.is_some() {
            return self.forward_shared(input).cast(self.compute);
        }
        self.product_in_compute(input)
    }

    /// `x · W` multiplied in the (16-bit) compute dtype, the product left in it.
    fn product_in_compute<const D: usize>(&self, input: &ProjectionInput<D>) -> Tensor<D> {
        let w = self.weight.dense_as(self.compute);
        input.as_dtype(self.compute).matmul(w.unsqueeze::<D>())
    }

    /// The adapter, when its update is not folded into the weight.
    fn active_adapter(&self) -> Option<&LoraAdapter> {
        self.lora.as_ref().filter(|_| !self.merged)
    }

    /// `scale · (dropout(x) · A) · B`, in f32.
    fn adapter_update<const D: usize>(l: &LoraAdapter, x: Tensor<D>) -> Tensor<D> {
        let h = l.dropout.forward(x).matmul(l.a.val().unsqueeze::<D>());
        h.matmul(l.b.val().unsqueeze::<D>()).mul_scalar(l.scale)
    }

    /// Attaches a fresh adapter: A Kaiming-uniform from `seed`, B zero (the output is unchanged).
    pub fn attach_lora(&mut self, r: usize, alpha: f64, dropout: f64, seed: u64) {
        let (d_in, d_out) = (self.d_in(), self.d_out());
        let device = self.weight.device();
        let bound = 1.0 / (d_in as f64).sqrt();
        let mut rng = SplitMix64::new(seed);
        // Drawn in PEFT's [r, in] order so a given seed means the same A in either layout.
        let a_peft: Vec<f32> = (0..r * d_in)
            .map(|_| ((rng.next_f64() * 2.0 - 1.0) * bound) as f32)
            .collect();
        let a = transpose(&a_peft, r, d_in);
        self.set_lora(
            a,
            vec![0.0; r * d_out],
            r,
            alpha / r as f64,
            dropout,
            &device,
        );
    }

    /// Sets the adapter from values in input-major layout (A `[in, r]`, B `[r, out]`) with the
    /// update multiplied by `scale` (`alpha / r`, or `alpha / sqrt(r)` for rsLoRA).
    pub fn set_lora(
        &mut self,
        a: Vec<f32>,
        b: Vec<f32>,
        r: usize,
        scale: f64,
        dropout: f64,
        device: &Device,
    ) {
        let (d_in, d_out) = (self.d_in(), self.d_out());
        self.lora = Some(LoraAdapter {
            a: Param::from_tensor(Tensor::from_data(TensorData::new(a, [d_in, r]), device)),
            b: Param::from_tensor(Tensor::from_data(TensorData::new(b, [r, d_out]), device)),
            dropout: DropoutConfig::new(dropout).init(),
            scale,
        });
        self.merged = false;
    }

    /// Folds `scale · A·B` into W, so inference pays nothing for the adapter. No-op without one,
    /// and for a base not stored in f32 (bf16, f16, int8, NF4): folding would round the update
    /// into the base's precision, so the adapter stays a separate f32 path there, as in QLoRA.
    pub fn merge(&mut self) {
        if self.merged || !self.weight.is_f32() {
            return;
        }
        if let Some(delta) = self.delta() {
            self.weight = FrozenWeight::dense(self.weight.dense_f32() + delta);
            self.merged = true;
        }
    }

    /// Undoes [`Linear::merge`] (up to float rounding).
    pub fn unmerge(&mut self) {
        if !self.merged {
            return;
        }
        if let Some(delta) = self.delta() {
            self.weight = FrozenWeight::dense(self.weight.dense_f32() - delta);
        }
        self.merged = false;
    }

    fn delta(&self) -> Option<Tensor<2>> {
        let l = self.lora.as_ref()?;
        Some(
            l.a.val()
                .detach()
                .matmul(l.b.val().detach())
                .mul_scalar(l.scale),
        )
    }
}

/// The input of one or more projections in the forms they read: f32 (an f32-compute product, the
/// adapter path) and the 16-bit compute dtype (the base product on a GPU). Q, K and V read one
/// input, gate and up another: made once here, its cast is one pass over `[tokens, d]` in the
/// forward (and one over its gradient in the backward) instead of one per projection; an input
/// that arrives in the compute dtype (SwiGLU's output, for down) is cast up only if something
/// needs f32.
pub struct ProjectionInput<const D: usize> {
    /// The input in f32, when it exists in f32.
    f32: Option<Tensor<D>>,
    /// The input in the compute dtype, when a 16-bit projection reads it.
    low: Option<Tensor<D>>,
}

impl<const D: usize> ProjectionInput<D> {
    /// An f32 input read by one projection (casts, if any, happen where it is read).
    pub fn f32(x: Tensor<D>) -> Self {
        Self {
            f32: Some(x),
            low: None,
        }
    }

    /// An input shared by `readers`: cast once to their compute dtype when they multiply in 16
    /// bits (the projections of one model share one compute dtype). `x` may be f32 or already in
    /// that dtype.
    pub fn shared(x: Tensor<D>, readers: &[&Linear]) -> Self {
        let compute = readers
            .iter()
            .map(|l| l.compute)
            .find(|c| *c != FloatDType::F32);
        let dtype = x.dtype();
        match compute {
            Some(c) if dtype == c.into() => Self {
                f32: None,
                low: Some(x),
            },
            Some(c) => Self {
                low: Some(x.clone().cast(c)),
                f32: Some(x),
            },
            None if dtype == burn::tensor::DType::F32 => Self::f32(x),
            None => Self::f32(x.cast(FloatDType::F32)),
        }
    }

    /// The input in f32.
    fn as_f32(&self) -> Tensor<D> {
        match (&self.f32, &self.low) {
            (Some(x), _) => x.clone(),
            (None, Some(low)) => low.clone().cast(FloatDType::F32),
            (None, None) => unreachable!("a projection input holds at least one form"),
        }
    }

    /// The input in `dtype` (the reader's compute dtype).
    fn as_dtype(&self, dtype: FloatDType) -> Tensor<D> {
        match &self.low {
            Some(low) if low.dtype() == dtype.into() => low.clone(),
            _ => self.as_f32().cast(dtype),
        }
    }
}

/// A per-layer seed derived from the adapter seed and the projection's checkpoint name.
pub(crate) fn layer_seed(seed: u64, name: &str) -> u64 {
    let mut h = SplitMix64::new(seed);
    let mut acc = h.next_u64();
    for byte in name.bytes() {
        acc = SplitMix64::new(acc ^ u64::from(byte)).next_u64();
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(t: Tensor<2>) -> Vec<f32> {
        crate::weights::tensor_values(t).unwrap()
    }

    /// Hand-checkable: W = I (2×2), A = [1, 1]ᵀ (in=2, r=1), B = [2, 0], alpha/r = 0.5.
    /// x = [3, 4] → W x = [3, 4]; A x = 7; B(7) = [14, 0]; times 0.5 → [7, 0]; y = [10, 4].
    #[test]
    fn hand_checked_lora_forward_merge_and_unmerge() {
        let dev = Device::flex();
        let w = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 0.0, 0.0, 1.0], [2, 2]), &dev);
        let mut lin = Linear::frozen(w, None);
        lin.set_lora(vec![1.0, 1.0], vec![2.0, 0.0], 1, 0.5, 0.0, &dev);
        let x = Tensor::<2>::from_data(TensorData::new(vec![3.0f32, 4.0], [1, 2]), &dev);
        assert_eq!(data(lin.forward(x.clone())), vec![10.0, 4.0]);
        lin.merge();
        assert_eq!(data(lin.weight.dense_f32()), vec![2.0, 0.0, 1.0, 1.0]);
        assert_eq!(data(lin.forward(x.clone())), vec![10.0, 4.0]);
        lin.unmerge();
        assert_eq!(data(lin.weight.dense_f32()), vec![1.0, 0.0, 0.0, 1.0]);
        assert_eq!(data(lin.forward(x)), vec![10.0, 4.0]);
    }

    #[test]
    fn fresh_adapter_is_kaiming_uniform_and_b_zero() {
        let dev = Device::flex();
        let (d_in, d_out, r) = (64, 8, 4);
        let w = Tensor::<2>::zeros([d_in, d_out], &dev);
        let mut lin = Linear::frozen(w, None);
        lin.attach_lora(r, 8.0, 0.0, 7);
        let l = lin.lora.as_ref().unwrap();
        let a = data(l.a.val());
        let bound = 1.0 / (d_in as f32).sqrt();
        assert!(a.iter().all(|v| v.abs() <= bound));
        assert!(
            a.iter().any(|v| v.abs() > bound * 0.9),
            "draws should fill the interval"
        );
        assert!(data(l.b.val()).iter().all(|&v| v == 0.0));
        assert_eq!(l.scale, 2.0);
    }

    #[test]
    fn config_validation_names_the_problem() {
        let mut c = LoraConfig {
            r: 8,
            alpha: 16.0,
            dropout: 0.05,
            targets: vec!["q_proj".into()],
            seed: 0,
        };
        assert!(c.validate().is_ok());
        c.targets.push("lm_head".into());
        assert!(c.validate().unwrap_err().contains("lm_head"));
    }
}
