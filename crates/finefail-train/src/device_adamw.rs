//! AdamW and global gradient-norm clipping as tensor ops on the adapter's own device: the same
//! update as [`crate::adamw`] (same formula, same order of f32 operations, f32 moments), without
//! copying the adapter and its gradients to the host and back every step.
//!
//! Why a second path: on a GPU the host round trip (every adapter tensor down, a single-threaded
//! loop, every tensor up, while the GPU idles) costs more than the update itself (issue 23). On the
//! CPU `flex` backend the host loop is one fused pass, so the trainer keeps [`crate::adamw`] there
//! (measured in docs/performance.md); this module is what a GPU trainer calls instead.
//!
//! Checkpoints keep their format: [`DeviceAdamW::from_host`] and [`DeviceAdamW::to_host`] convert
//! the state exactly (f32 values copied, nothing rounded), so a run that saves and resumes through
//! the host [`AdamWState`] continues bit for bit.
//!
//! The global norm is summed in f64 on the device (as the host sums it in f64), so the clipping
//! factor agrees with the host's to f64 rounding rather than to an f32 sum's error.

use crate::adamw::{AdamWParams, AdamWState, Moments, StepScalars};
use crate::error::{Result, TrainError};
use burn::module::Param;
use burn::tensor::{Device, FloatDType, Gradients, Tensor, TensorData};
use finefail_model::llama::Llama;
use finefail_model::weights::tensor_values;
use std::collections::BTreeMap;

/// Adapter tensors (or their gradients) on the device, by the same names as
/// [`crate::adapter::values`] (`model.layers.0.self_attn.q_proj.a`, ...): the currency of this
/// module, so names line up with the host state and the checkpoint.
pub type DeviceTensors = BTreeMap<String, Tensor<2>>;

/// Moments of one tensor, on the device.
#[derive(Debug, Clone)]
pub struct DeviceMoments {
    /// m (first moment), f32, the parameter's shape.
    pub m: Tensor<2>,
    /// v (second moment), f32, the parameter's shape.
    pub v: Tensor<2>,
}

/// AdamW state on the device: the step count and the moments keyed by tensor name, the device
/// twin of [`AdamWState`].
#[derive(Debug, Clone, Default)]
pub struct DeviceAdamW {
    /// Optimizer steps taken.
    pub step: u64,
    /// Moments by tensor name.
    pub moments: BTreeMap<String, DeviceMoments>,
}

impl DeviceAdamW {
    /// The device copy of a host state (a resumed run): each moment vector becomes a tensor of
    /// the shape of the parameter of the same name in `shapes` (moments whose name `shapes`
    /// lacks are an error, not silently dropped).
    pub fn from_host(
        host: &AdamWState,
        shapes: &BTreeMap<String, [usize; 2]>,
        device: &Device,
    ) -> Result<Self> {
        let mut moments = BTreeMap::new();
        for (name, mo) in &host.moments {
            let shape = *shapes.get(name).ok_or_else(|| {
                TrainError::Other(format!("optimizer state for unknown adapter tensor {name}"))
            })?;
            let n = shape[0] * shape[1];
            if mo.m.len() != n || mo.v.len() != n {
                return Err(TrainError::Other(format!(
                    "optimizer state for {name} has {} values, the tensor {n}",
                    mo.m.len()
                )));
            }
            let t =
                |x: &Vec<f32>| Tensor::<2>::from_data(TensorData::new(x.clone(), shape), device);
            moments.insert(
                name.clone(),
                DeviceMoments {
                    m: t(&mo.m),
                    v: t(&mo.v),
                },
            );
        }
        Ok(Self {
            step: host.step,
            moments,
        })
    }

    /// The host copy of the state (to write a checkpoint in the existing format).
    pub fn to_host(&self) -> Result<AdamWState> {
        let mut moments = BTreeMap::new();
        for (name, mo) in &self.moments {
            moments.insert(
                name.clone(),
                Moments {
                    m: tensor_values(mo.m.clone())?,
                    v: tensor_values(mo.v.clone())?,
                },
            );
        }
        Ok(AdamWState {
            step: self.step,
            moments,
        })
    }

    /// One AdamW update of every tensor in `params` with its gradient in `grads` (same names),
    /// exactly [`AdamWState::step`]'s arithmetic as tensor ops: `p ← p·(1 − lr·wd)` (when wd ≠ 0),
    /// `m ← m·β₁ + (1 − β₁)·g`, `v ← v·β₂ + (1 − β₂)·g·g`,
    /// `p ← p − (lr / bc₁)·m / (√v / √bc₂ + ε)`, every scalar rounded to f32 as the host does.
    /// Parameters and gradients are plain (non-autodiff) tensors; a tensor without a gradient is
    /// left as it is.
    pub fn step(
        &mut self,
        hp: &AdamWParams,
        lr: f64,
        params: &mut DeviceTensors,
        grads: &DeviceTensors,
    ) {
        self.step += 1;
        let StepScalars {
            step_size,
            bc2_sqrt,
            decay,
            b1: b1f,
            b2: b2f,
            eps,
        } = StepScalars::new(hp, lr, self.step);
        // A one-value tensor, not a scalar: CUDA divides by a host scalar as a multiply by its
        // reciprocal (one rounding more than the host's division); by a tensor it divides.
        let bc2_sqrt = grads
            .values()
            .next()
            .map(|g| Tensor::<2>::from_data(TensorData::new(vec![bc2_sqrt], [1, 1]), &g.device()));
        let Some(bc2_sqrt) = bc2_sqrt else { return };
        for (name, g) in grads {
            // Taken out of the map so that a tensor no one else holds is updated in place.
            let Some(mut p) = params.remove(name) else {
                continue;
            };
            let (m, v) = match self.moments.remove(name) {
                Some(st) => (st.m, st.v),
                None => (p.zeros_like(), p.zeros_like()),
            };
            if hp.weight_decay != 0.0 {
                p = p.mul_scalar(decay);
            }
            let m = m.mul_scalar(b1f) + g.clone().mul_scalar(1.0 - b1f);
            let v = v.mul_scalar(b2f) + g.clone().mul_scalar(1.0 - b2f).mul(g.clone());
            let denom = correctly_rounded_sqrt(&v)
                .div(bc2_sqrt.clone())
                .add_scalar(eps);
            params.insert(name.clone(), p - m.clone().mul_scalar(step_size).div(denom));
            self.moments.insert(name.clone(), DeviceMoments { m, v });
        }
    }
}

/// `√v` rounded once from the exact root, as the host's `f32::sqrt` is: taken in f64 and rounded
/// to f32 (a root of an f32 value computed to within an f64 ulp rounds to the correctly rounded
/// f32 root). LibTorch's own f32 `sqrt` on the CPU is not correctly rounded (measured with torch
/// 2.11: 1 ulp off on ~0.6 % of values), which moved parameters by more than the 1e-6 the device
/// path is held to.
fn correctly_rounded_sqrt(v: &Tensor<2>) -> Tensor<2> {
    v.clone().cast(FloatDType::F64).sqrt().cast(FloatDType::F32)
}

/// The global L2 norm of all gradients as a one-value f64 tensor on their device (squares summed
/// in f64, as [`crate::adamw::global_norm`] does); reading it back is the caller's choice (a
/// metric), not needed for the clip. `None` when there are no gradients.
pub fn global_norm(grads: &DeviceTensors) -> Option<Tensor<1>> {
    grads
        .values()
        .map(|g| g.clone().cast(FloatDType::F64).square().sum())
        .reduce(|a, b| a + b)
        .map(|s| s.sqrt())
}

/// Scales every gradient by `max_norm / (norm + 1e-6)` when the global norm exceeds `max_norm`
/// (`max_norm` 0 = off), without leaving the device: the factor is `min(1, ·)` as a tensor, so
/// there is no branch on a value read back. Returns the norm before clipping (f64, `[1]`), `None`
/// when there are no gradients.
pub fn clip_global_norm(grads: &mut DeviceTensors, max_norm: f64) -> Option<Tensor<1>> {
    let norm = global_norm(grads)?;
    if max_norm > 0.0 {
        // As the host: the factor in f64, rounded to f32; 1 (an exact no-op) when not clipping.
        let coef = norm
            .clone()
            .add_scalar(1e-6)
            .recip()
            .mul_scalar(max_norm)
            .clamp_max(1.0)
            .cast(FloatDType::F32);
        for g in grads.values_mut() {
            *g = g.clone().mul(coef.clone().unsqueeze::<2>());
        }
    }
    Some(norm)
}

/// The adapter tensors of `model`, detached from autodiff (the optimizer's parameters).
pub fn values(model: &Llama) -> Result<DeviceTensors> {
    let mut out = BTreeMap::new();
    for (path, lin) in model.linears() {
        if let Some(l) = &lin.lora {
            out.insert(format!("{path}.a"), l.a.val().inner());
            out.insert(format!("{path}.b"), l.b.val().inner());
        }
    }
    if out.is_empty() {
        return Err(TrainError::Other("the model has no LoRA adapters".into()));
    }
    Ok(out)
}

/// The shapes of the adapter tensors, by name ([`DeviceAdamW::from_host`] needs them).
pub fn shapes(model: &Llama) -> BTreeMap<String, [usize; 2]> {
    let mut out = BTreeMap::new();
    for (path, lin) in model.linears() {
        if let Some(l) = &lin.lora {
            out.insert(format!("{path}.a"), l.a.dims());
            out.insert(format!("{path}.b"), l.b.dims());
        }
    }
    out
}

/// Gradients of every adapter tensor after `loss.backward()`, left on the device; a tensor the
/// loss does not reach gets zeros (as [`crate::adapter::gradients`]).
pub fn gradients(model: &Llama, grads: &Gradients) -> DeviceTensors {
    gradients_where(model, grads, |_| true)
}

/// Gradients of the adapter tensors of decoder layer `layer` only, left on the device (activation
/// checkpointing back-propagates one layer at a time; as [`crate::adapter::layer_gradients`]).
pub fn layer_gradients(model: &Llama, grads: &Gradients, layer: usize) -> DeviceTensors {
    let prefix = format!("model.layers.{layer}.");
    gradients_where(model, grads, |path| path.starts_with(&prefix))
}

/// Gradients of the adapters of the projections whose path passes `keep`.
fn gradients_where(model: &Llama, grads: &Gradients, keep: impl Fn(&str) -> bool) -> DeviceTensors {
    let mut out = BTreeMap::new();
    for (path, lin) in model.linears() {
        let Some(l) = lin.lora.as_ref().filter(|_| keep(&path)) else {
            continue;
        };
        for (suffix, p) in [("a", &l.a), ("b", &l.b)] {
            let val = p.val();
            let g = val.grad(grads).unwrap_or_else(|| val.inner().zeros_like());
            out.insert(format!("{path}.{suffix}"), g);
        }
    }
    out
}

/// Adds gradients `g` into the running sum `acc` on the device (gradient accumulation over
/// micro-batches; a tensor `acc` lacks is taken as it is).
pub fn add_gradients(acc: &mut DeviceTensors, g: DeviceTensors) {
    for (k, v) in g {
        match acc.remove(&k) {
            Some(a) => {
                acc.insert(k, a + v);
            }
            None => {
                acc.insert(k, v);
            }
        }
    }
}

/// Writes updated adapter tensors back into `model` as fresh trainable parameters (autodiff again
/// when the model's adapters were), keeping rank, scale and dropout; no host copy.
pub fn set_values(model: &mut Llama, values: &DeviceTensors) -> Result<()> {
    for (path, lin) in model.linears_mut() {
        let Some(l) = lin.lora.as_mut() else { continue };
        for (suffix, p) in [("a", &mut l.a), ("b", &mut l.b)] {
            let name = format!("{path}.{suffix}");
            let v = values
                .get(&name)
                .cloned()
                .ok_or_else(|| TrainError::Other(format!("no value for adapter tensor {name}")))?;
            let v = if p.val().is_autodiff() {
                Tensor::from_inner(v)
            } else {
                v
            };
            *p = Param::from_tensor(v);
        }
    }
    Ok(())
}
