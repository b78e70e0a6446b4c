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
//!
//! Every operation runs over all adapter tensors at once (flattened and concatenated in name
//! order, the moments kept flat): a handful of kernels a step on a GPU instead of one per tensor
//! and operation.

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

/// The moments of every tensor that has had a gradient, concatenated in name order: a step then
/// runs each of AdamW's elementwise operations once over all adapter values, not once per tensor
/// (240 tensors × ~14 operations for SmolLM2 r16 — on a GPU each a kernel launch of its own).
#[derive(Debug, Clone)]
struct FlatMoments {
    /// (name, shape) of each tensor, in name order: where its values sit in `m` and `v`.
    layout: Vec<(String, [usize; 2])>,
    /// m (first moment), f32.
    m: Tensor<1>,
    /// v (second moment), f32.
    v: Tensor<1>,
}

/// One tensor's moments, flattened.
type Pair = (Tensor<1>, Tensor<1>);

impl FlatMoments {
    /// Each tensor's (m, v), by name.
    fn split(self) -> BTreeMap<String, ([usize; 2], Pair)> {
        let mut out = BTreeMap::new();
        let mut at = 0;
        for (name, shape) in self.layout {
            let n = shape[0] * shape[1];
            let part = |t: &Tensor<1>| t.clone().slice(at..at + n);
            out.insert(name, (shape, (part(&self.m), part(&self.v))));
            at += n;
        }
        out
    }

    /// Per-tensor moments joined in name order (`None` when there are none).
    fn join(parts: BTreeMap<String, ([usize; 2], Pair)>) -> Option<Self> {
        if parts.is_empty() {
            return None;
        }
        let mut layout = Vec::with_capacity(parts.len());
        let (mut ms, mut vs) = (Vec::new(), Vec::new());
        for (name, (shape, (m, v))) in parts {
            layout.push((name, shape));
            ms.push(m);
            vs.push(v);
        }
        Some(Self {
            layout,
            m: Tensor::cat(ms, 0),
            v: Tensor::cat(vs, 0),
        })
    }
}

/// AdamW state on the device: the step count and the moments (flat, all tensors in one), the
/// device twin of [`AdamWState`].
#[derive(Debug, Clone, Default)]
pub struct DeviceAdamW {
    /// Optimizer steps taken.
    pub step: u64,
    /// The moments of every tensor that has had a gradient (boxed: two tensors).
    moments: Option<Box<FlatMoments>>,
}

/// `tensors` (in the given order) flattened and concatenated: one tensor over all their values.
fn flatten(tensors: Vec<Tensor<2>>) -> Tensor<1> {
    let flat: Vec<Tensor<1>> = tensors
        .into_iter()
        .map(|t| {
            let [r, c] = t.dims();
            t.reshape([r * c])
        })
        .collect();
    Tensor::cat(flat, 0)
}

/// The inverse of [`flatten`]: `flat`'s values as tensors of `layout`'s names and shapes.
fn unflatten(flat: Tensor<1>, layout: &[(String, [usize; 2])]) -> DeviceTensors {
    let mut out = BTreeMap::new();
    let mut at = 0;
    for (name, shape) in layout {
        let n = shape[0] * shape[1];
        out.insert(name.clone(), flat.clone().slice(at..at + n).reshape(*shape));
        at += n;
    }
    out
}

impl DeviceAdamW {
    /// The device copy of a host state (a resumed run): the moment vectors concatenated in name
    /// order, each checked against the shape of the parameter of the same name in `shapes`
    /// (moments whose name `shapes` lacks are an error, not silently dropped).
    pub fn from_host(
        host: &AdamWState,
        shapes: &BTreeMap<String, [usize; 2]>,
        device: &Device,
    ) -> Result<Self> {
        let mut layout = Vec::with_capacity(host.moments.len());
        let (mut m, mut v) = (Vec::new(), Vec::new());
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
            layout.push((name.clone(), shape));
            m.extend_from_slice(&mo.m);
            v.extend_from_slice(&mo.v);
        }
        let flat = |x: Vec<f32>| {
            let n = x.len();
            Tensor::<1>::from_data(TensorData::new(x, [n]), device)
        };
        let moments = (!layout.is_empty()).then(|| {
            Box::new(FlatMoments {
                layout,
                m: flat(m),
                v: flat(v),
            })
        });
        Ok(Self {
            step: host.step,
            moments,
        })
    }

    /// The host copy of the state (to write a checkpoint in the existing format).
    pub fn to_host(&self) -> Result<AdamWState> {
        let mut moments = BTreeMap::new();
        if let Some(fm) = &self.moments {
            let (m, v) = (tensor_values(fm.m.clone())?, tensor_values(fm.v.clone())?);
            let mut at = 0;
            for (name, shape) in &fm.layout {
                let n = shape[0] * shape[1];
                moments.insert(
                    name.clone(),
                    Moments {
                        m: m[at..at + n].to_vec(),
                        v: v[at..at + n].to_vec(),
                    },
                );
                at += n;
            }
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
    /// left as it is. All tensors are updated at once, flattened and concatenated in name order
    /// (elementwise, so each value sees the same operations as alone); when the set of tensors
    /// with a gradient changes, each is updated alone and the moments are joined again.
    pub fn step(
        &mut self,
        hp: &AdamWParams,
        lr: f64,
        params: &mut DeviceTensors,
        grads: &DeviceTensors,
    ) {
        self.step += 1;
        let scalars = StepScalars::new(hp, lr, self.step);
        let layout: Vec<(String, [usize; 2])> = grads
            .iter()
            .filter(|(name, _)| params.contains_key(*name))
            .map(|(name, g)| (name.clone(), g.dims()))
            .collect();
        let Some(device) = grads.values().next().map(Tensor::device) else {
            return;
        };
        if layout.is_empty() {
            return;
        }
        // A one-value tensor, not a scalar: CUDA divides by a host scalar as a multiply by its
        // reciprocal (one rounding more than the host's division); by a tensor it divides.
        let bc2_sqrt =
            Tensor::<1>::from_data(TensorData::new(vec![scalars.bc2_sqrt], [1]), &device);
        let update =
            |p, g, (m, v): Pair| update(p, g, m, v, &scalars, hp.weight_decay != 0.0, &bc2_sqrt);
        let same_tensors = self.moments.as_ref().is_none_or(|fm| fm.layout == layout);
        if same_tensors {
            let take = |map: &mut DeviceTensors| -> Vec<Tensor<2>> {
                layout
                    .iter()
                    .filter_map(|(name, _)| map.remove(name))
                    .collect()
            };
            let p = flatten(take(params));
            let g = flatten(layout.iter().map(|(name, _)| grads[name].clone()).collect());
            let mv = match self.moments.take().map(|fm| *fm) {
                Some(fm) => (fm.m, fm.v),
                None => (p.zeros_like(), p.zeros_like()),
            };
            let (p, m, v) = update(p, g, mv);
            params.extend(unflatten(p, &layout));
            self.moments = Some(Box::new(FlatMoments { layout, m, v }));
            return;
        }
        let mut parts = self.moments.take().map(|fm| fm.split()).unwrap_or_default();
        for (name, shape) in layout {
            let flat = |t: Tensor<2>| t.reshape([shape[0] * shape[1]]);
            let Some(p) = params.remove(&name) else {
                continue;
            };
            let (p, g) = (flat(p), flat(grads[&name].clone()));
            let mv = match parts.remove(&name) {
                Some((_, mv)) => mv,
                None => (p.zeros_like(), p.zeros_like()),
            };
            let (p, m, v) = update(p, g, mv);
            params.insert(name.clone(), p.reshape(shape));
            parts.insert(name, (shape, (m, v)));
        }
        self.moments = FlatMoments::join(parts).map(Box::new);
    }
}

/// AdamW's update of values `p` with gradients `g` and moments `m`, `v` (any length), in the host
/// loop's order of f32 operations; returns the new (p, m, v).
fn update(
    p: Tensor<1>,
    g: Tensor<1>,
    m: Tensor<1>,
    v: Tensor<1>,
    s: &StepScalars,
    decay: bool,
    bc2_sqrt: &Tensor<1>,
) -> (Tensor<1>, Tensor<1>, Tensor<1>) {
    let p = if decay { p.mul_scalar(s.decay) } else { p };
    let m = m.mul_scalar(s.b1) + g.clone().mul_scalar(1.0 - s.b1);
    let v = v.mul_scalar(s.b2) + g.clone().mul_scalar(1.0 - s.b2).mul(g);
    let denom = correctly_rounded_sqrt(&v)
        .div(bc2_sqrt.clone())
        .add_scalar(s.eps);
    let p = p - m.clone().mul_scalar(s.step_size).div(denom);
    (p, m, v)
}

/// `√v` rounded once from the exact root, as the host's `f32::sqrt` is: taken in f64 and rounded
/// to f32 (a root of an f32 value computed to within an f64 ulp rounds to the correctly rounded
/// f32 root). LibTorch's own f32 `sqrt` on the CPU is not correctly rounded (measured with torch
/// 2.11: 1 ulp off on ~0.6 % of values), which moved parameters by more than the 1e-6 the device
/// path is held to.
fn correctly_rounded_sqrt(v: &Tensor<1>) -> Tensor<1> {
    v.clone().cast(FloatDType::F64).sqrt().cast(FloatDType::F32)
}

/// The global L2 norm of all gradients as a one-value f64 tensor on their device (squares summed
/// in f64 over all of them at once, as [`crate::adamw::global_norm`] sums in f64); reading it back
/// is the caller's choice (a metric), not needed for the clip. `None` when there are no gradients.
pub fn global_norm(grads: &DeviceTensors) -> Option<Tensor<1>> {
    if grads.is_empty() {
        return None;
    }
    Some(norm_of(&flatten(grads.values().cloned().collect())))
}

/// `‖flat‖₂` in f64, as a one-value tensor.
fn norm_of(flat: &Tensor<1>) -> Tensor<1> {
    flat.clone().cast(FloatDType::F64).square().sum().sqrt()
}

/// Scales every gradient by `max_norm / (norm + 1e-6)` when the global norm exceeds `max_norm`
/// (`max_norm` 0 = off), without leaving the device: the factor is `min(1, ·)` as a tensor, so
/// there is no branch on a value read back, and it multiplies all gradients at once (flattened).
/// Returns the norm before clipping (f64, `[1]`), `None` when there are no gradients.
pub fn clip_global_norm(grads: &mut DeviceTensors, max_norm: f64) -> Option<Tensor<1>> {
    if grads.is_empty() {
        return None;
    }
    let layout: Vec<(String, [usize; 2])> = grads
        .iter()
        .map(|(name, g)| (name.clone(), g.dims()))
        .collect();
    let flat = flatten(grads.values().cloned().collect());
    let norm = norm_of(&flat);
    if max_norm > 0.0 {
        // As the host: the factor in f64, rounded to f32; 1 (an exact no-op) when not clipping.
        let coef = norm
            .clone()
            .add_scalar(1e-6)
            .recip()
            .mul_scalar(max_norm)
            .clamp_max(1.0)
            .cast(FloatDType::F32);
        *grads = unflatten(flat.mul(coef), &layout);
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
/// micro-batches; a tensor `acc` lacks is taken as it is). When both hold the same tensors (every
/// micro-batch of a step without checkpointing) the sum is one addition over all of them,
/// flattened, instead of one per tensor.
pub fn add_gradients(acc: &mut DeviceTensors, g: DeviceTensors) {
    if acc.is_empty() {
        *acc = g;
        return;
    }
    let same_tensors = acc.len() == g.len()
        && acc
            .iter()
            .zip(&g)
            .all(|((ka, a), (kg, b))| ka == kg && a.dims() == b.dims());
    if same_tensors {
        let layout: Vec<(String, [usize; 2])> = acc
            .iter()
            .map(|(name, t)| (name.clone(), t.dims()))
            .collect();
        let sum = flatten(std::mem::take(acc).into_values().collect())
            + flatten(g.into_values().collect());
        *acc = unflatten(sum, &layout);
        return;
    }
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
