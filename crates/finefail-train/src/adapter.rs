//! The trainable tensors of a model with LoRA attached, moved between the device and host vectors
//! keyed by name (`model.layers.0.self_attn.q_proj.a`, input-major `[in, r]`; `.b` is `[r, out]`).
//! The optimizer works on these vectors; gradients come out the same way.

use crate::error::{Result, TrainError};
use burn::tensor::Device;
use burn::tensor::Gradients;
use finefail_model::llama::Llama;
use finefail_model::weights::tensor_values;
use std::collections::BTreeMap;

/// Host copies of every adapter tensor, by name.
pub fn values(model: &Llama) -> Result<BTreeMap<String, Vec<f32>>> {
    let mut out = BTreeMap::new();
    for (path, lin) in model.linears() {
        if let Some(l) = &lin.lora {
            out.insert(format!("{path}.a"), tensor_values(l.a.val())?);
            out.insert(format!("{path}.b"), tensor_values(l.b.val())?);
        }
    }
    if out.is_empty() {
        return Err(TrainError::Other("the model has no LoRA adapters".into()));
    }
    Ok(out)
}

/// Gradients of every adapter tensor after `loss.backward()`; a tensor the loss does not reach gets zeros.
pub fn gradients(model: &Llama, grads: &Gradients) -> Result<BTreeMap<String, Vec<f32>>> {
    gradients_where(model, grads, |_| true)
}

/// Gradients of the adapter tensors of decoder layer `layer` only (activation checkpointing
/// back-propagates one layer at a time); a tensor the loss does not reach gets zeros.
pub fn layer_gradients(
    model: &Llama,
    grads: &Gradients,
    layer: usize,
) -> Result<BTreeMap<String, Vec<f32>>> {
    let prefix = format!("model.layers.{layer}.");
    gradients_where(model, grads, |path| path.starts_with(&prefix))
}

/// Gradients of the adapters of the projections whose checkpoint path passes `keep`.
fn gradients_where(
    model: &Llama,
    grads: &Gradients,
    keep: impl Fn(&str) -> bool,
) -> Result<BTreeMap<String, Vec<f32>>> {
    let mut out = BTreeMap::new();
    for (path, lin) in model.linears() {
        let Some(l) = lin.lora.as_ref().filter(|_| keep(&path)) else {
            continue;
        };
        for (suffix, p) in [("a", &l.a), ("b", &l.b)] {
            let v = match p.val().grad(grads) {
                Some(g) => tensor_values(g)?,
                None => vec![0.0; p.dims().iter().product()],
            };
            out.insert(format!("{path}.{suffix}"), v);
        }
    }
    Ok(out)
}

/// Adds gradients `g` into the running sum `acc`, tensor by tensor (a tensor `acc` lacks is
/// taken as it is): gradient accumulation over micro-batches.
pub fn add_gradients(acc: &mut BTreeMap<String, Vec<f32>>, g: BTreeMap<String, Vec<f32>>) {
    for (k, v) in g {
        match acc.get_mut(&k) {
            Some(a) => a.iter_mut().zip(v).for_each(|(x, y)| *x += y),
            None => {
                acc.insert(k, v);
            }
        }
    }
}

/// Writes host values back into the adapters (new parameters on `device`, same rank/scale/dropout).
pub fn set_values(
    model: &mut Llama,
    values: &BTreeMap<String, Vec<f32>>,
    dropout: f64,
    device: &Device,
) -> Result<()> {
    for (path, lin) in model.linears_mut() {
        let Some(l) = &lin.lora else { continue };
        let (r, scale) = (l.a.dims()[1], l.scale);
        let get = |s: &str| {
            values
                .get(&format!("{path}.{s}"))
                .cloned()
                .ok_or_else(|| TrainError::Other(format!("no value for adapter tensor {path}.{s}")))
        };
        let (a, b) = (get("a")?, get("b")?);
        lin.set_lora(a, b, r, scale, dropout, device);
    }
    Ok(())
}
