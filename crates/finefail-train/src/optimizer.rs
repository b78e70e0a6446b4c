//! The trainer's optimizer step on one of two paths, chosen by the device ([`optimizer_path`]):
//! the host path ([`crate::adamw`] on host vectors, the adapter's gradients read back per
//! micro-batch) or the device path ([`crate::device_adamw`]: gradients summed, clipped and applied
//! as tensor ops where they were computed, the loss and the gradient norm read back once per step).
//! Both do the same f32 arithmetic in the same order; checkpoints hold the host
//! [`AdamWState`] either way ([`Optimizer::host_state`]), so a run resumes on either path.

use crate::adamw::{self, AdamWParams, AdamWState};
use crate::adapter;
use crate::device_adamw::{self as dev, DeviceAdamW, DeviceTensors};
use crate::error::{Result, TrainError};
use burn::tensor::{Device, FloatDType, Gradients, Tensor};
use finefail_model::device::DeviceSpec;
use finefail_model::llama::Llama;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// Where the optimizer step (gradient accumulation, clipping, AdamW) runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptimizerPath {
    /// Host vectors ([`crate::adamw`]): every micro-batch's adapter gradients are read back.
    Host,
    /// Tensor ops on the adapter's device ([`crate::device_adamw`]).
    Device,
}

/// The path the trainer (and `finefail bench train`) takes on `spec`: the host path on the CPU
/// `flex` backend, the device path everywhere else (LibTorch `tch-*`, CUDA).
///
/// Why: on a GPU the host path reads every adapter gradient back per micro-batch, runs a
/// single-threaded AdamW and writes the adapter back while the GPU idles (predicted 0.12–0.2 s a
/// step at SmolLM2-135M r 16, issue 23). On flex "the device" is the host and the two paths cost
/// about the same (13 ms vs 10 ms a step, ~0.1 % of a step, docs/performance.md), so flex keeps
/// the host path: CPU results stay exactly what they were and cached steps of the default study
/// stay valid.
pub fn optimizer_path(spec: DeviceSpec) -> OptimizerPath {
    match spec {
        DeviceSpec::Cpu => OptimizerPath::Host,
        DeviceSpec::Cuda(_) | DeviceSpec::TchCpu | DeviceSpec::TchCuda(_) => OptimizerPath::Device,
    }
}

/// Adapter gradients summed over the micro-batches of one step, on the step's path.
#[derive(Debug, Clone)]
pub enum AdapterGrads {
    /// Host vectors by tensor name.
    Host(BTreeMap<String, Vec<f32>>),
    /// Device tensors by tensor name.
    Device(DeviceTensors),
}

impl AdapterGrads {
    /// An empty sum on `path`.
    pub fn new(path: OptimizerPath) -> Self {
        match path {
            OptimizerPath::Host => Self::Host(BTreeMap::new()),
            OptimizerPath::Device => Self::Device(DeviceTensors::new()),
        }
    }

    /// Adds the adapter gradients of a backward pass: every adapter's, or with `layer` only
    /// that decoder layer's (activation checkpointing). A tensor the loss does not reach adds
    /// zeros.
    pub fn add_backward(
        &mut self,
        model: &Llama,
        grads: &Gradients,
        layer: Option<usize>,
    ) -> Result<()> {
        match self {
            Self::Host(acc) => {
                let g = match layer {
                    Some(i) => adapter::layer_gradients(model, grads, i)?,
                    None => adapter::gradients(model, grads)?,
                };
                adapter::add_gradients(acc, g);
            }
            Self::Device(acc) => {
                let g = match layer {
                    Some(i) => dev::layer_gradients(model, grads, i),
                    None => dev::gradients(model, grads),
                };
                dev::add_gradients(acc, g);
            }
        }
        Ok(())
    }

    /// The sum as host vectors (read back when on the device).
    pub fn into_host(self) -> Result<BTreeMap<String, Vec<f32>>> {
        match self {
            Self::Host(g) => Ok(g),
            Self::Device(g) => g
                .into_iter()
                .map(|(k, t)| Ok((k, finefail_model::weights::tensor_values(t)?)))
                .collect(),
        }
    }
}

/// One step's losses (each micro-batch's `[1]` f32 loss, detached, not yet read back) and its
/// summed adapter gradients.
#[derive(Debug, Clone)]
pub struct BatchGrads {
    /// Per micro-batch, in order: their sum (in f64, in order) is the step's loss.
    pub losses: Vec<Tensor<1>>,
    /// Summed adapter gradients.
    pub grads: AdapterGrads,
}

impl BatchGrads {
    /// The step's loss: the micro-batch losses read back and summed in f64, in order.
    pub fn loss(&self) -> f64 {
        sum_in_order(
            self.losses
                .iter()
                .map(|l| f64::from(l.clone().into_scalar::<f32>())),
        )
    }
}

/// `0 + x₀ + x₁ + …` in f64 (as the loop always summed micro-batch losses).
fn sum_in_order(xs: impl Iterator<Item = f64>) -> f64 {
    xs.fold(0.0, |acc, x| acc + x)
}

/// What one optimizer step reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepNumbers {
    /// The step's loss (per-token mean over the effective batch).
    pub loss: f64,
    /// The global gradient norm before clipping.
    pub grad_norm: f64,
}

/// The optimizer's state on its path.
#[derive(Debug, Clone)]
pub enum Optimizer {
    /// Host moments.
    Host(AdamWState),
    /// Device moments.
    Device(DeviceAdamW),
}

impl Optimizer {
    /// The optimizer on `path`, starting from `state` (fresh, or a checkpoint's): on the device
    /// path the moments are copied onto the device of `model`'s adapters (exactly).
    pub fn new(path: OptimizerPath, state: AdamWState, model: &Llama) -> Result<Self> {
        Ok(match path {
            OptimizerPath::Host => Self::Host(state),
            OptimizerPath::Device => {
                let values = dev::values(model)?;
                let device =
                    values.values().next().map(|t| t.device()).ok_or_else(|| {
                        TrainError::Other("the model has no LoRA adapters".into())
                    })?;
                Self::Device(DeviceAdamW::from_host(
                    &state,
                    &dev::shapes(model),
                    &device,
                )?)
            }
        })
    }

    /// The path this optimizer runs on.
    pub fn path(&self) -> OptimizerPath {
        match self {
            Self::Host(_) => OptimizerPath::Host,
            Self::Device(_) => OptimizerPath::Device,
        }
    }

    /// The state in the checkpoint's (host) form: borrowed on the host path, read back from the
    /// device on the device path (only when a checkpoint is written).
    pub fn host_state(&self) -> Result<Cow<'_, AdamWState>> {
        match self {
            Self::Host(s) => Ok(Cow::Borrowed(s)),
            Self::Device(s) => Ok(Cow::Owned(s.to_host()?)),
        }
    }

    /// One optimizer step: global-norm clipping to `max_norm` (0 = off), AdamW at `lr`, the new
    /// adapter written into `model` (with LoRA dropout `dropout` on the host path, kept as it is
    /// on the device path). On the device path nothing is read back before the update is
    /// queued; then the micro-batch losses and the norm come back in one read.
    #[allow(clippy::too_many_arguments)] // the step's inputs, as the loop has them
    pub fn step(
        &mut self,
        model: &mut Llama,
        batch: BatchGrads,
        hp: &AdamWParams,
        lr: f64,
        max_norm: f64,
        dropout: f64,
        device: &Device,
    ) -> Result<StepNumbers> {
        match (self, batch.grads) {
            (Self::Host(state), AdapterGrads::Host(mut grads)) => {
                let loss = sum_in_order(
                    batch
                        .losses
                        .into_iter()
                        .map(|l| f64::from(l.into_scalar::<f32>())),
                );
                let grad_norm = adamw::clip_global_norm(&mut grads, max_norm);
                let mut params = adapter::values(model)?;
                state.step(hp, lr, &mut params, &grads);
                adapter::set_values(model, &params, dropout, device)?;
                Ok(StepNumbers { loss, grad_norm })
            }
            (Self::Device(state), AdapterGrads::Device(mut grads)) => {
                let norm = dev::clip_global_norm(&mut grads, max_norm)
                    .ok_or_else(|| TrainError::Other("no adapter gradients".into()))?;
                let mut params = dev::values(model)?;
                state.step(hp, lr, &mut params, &grads);
                drop(grads);
                dev::set_values(model, &params)?;
                let k = batch.losses.len();
                if k == 0 {
                    return Err(TrainError::Other("a step without micro-batches".into()));
                }
                // One read: [loss₀ … loss_{k−1}, norm] in f64 (f32 → f64 is exact).
                let losses = Tensor::cat(batch.losses, 0).cast(FloatDType::F64);
                let v: Vec<f64> = Tensor::cat(vec![losses, norm], 0)
                    .into_data()
                    .try_into_vec::<f64>()
                    .map_err(|e| TrainError::Other(format!("reading the step's numbers: {e:?}")))?;
                Ok(StepNumbers {
                    loss: sum_in_order(v[..k].iter().copied()),
                    grad_norm: v[k],
                })
            }
            (me, g) => Err(TrainError::Other(format!(
                "optimizer on the {:?} path got {} gradients",
                me.path(),
                match g {
                    AdapterGrads::Host(_) => "host",
                    AdapterGrads::Device(_) => "device",
                }
            ))),
        }
    }
}
