//! Shared helpers of the integration tests: fixture paths, reference files, tensor read-back.

#![allow(dead_code)]

use burn::tensor::{Device, Int, Tensor, TensorData};
use std::path::PathBuf;

/// `tests/fixtures/<name>`.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A `reference.json` written by `make_tiny_models.py`.
pub fn reference(name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(fixture(name).join("reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The reference token ids.
pub fn ref_tokens(r: &serde_json::Value) -> Vec<u32> {
    r["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect()
}

/// The reference logits, flattened row-major.
pub fn ref_logits(r: &serde_json::Value) -> Vec<f32> {
    ref_matrix(r, "logits")
}

/// A `[rows][cols]` array of the reference under `key`, flattened row-major.
pub fn ref_matrix(r: &serde_json::Value, key: &str) -> Vec<f32> {
    r[key]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
        })
        .collect()
}

/// One row of token ids as a `[1, t]` tensor.
pub fn token_row(ids: &[u32], device: &Device) -> Tensor<2, Int> {
    let data: Vec<i64> = ids.iter().map(|&x| i64::from(x)).collect();
    Tensor::from_data(TensorData::new(data, [1, ids.len()]), device)
}

/// Host copy of a tensor.
pub fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    finefail_model::weights::tensor_values(t).unwrap()
}

/// Largest absolute difference.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// LoRA r 4, alpha 8, no dropout on all seven projections, A drawn from `seed`.
pub fn lora_all_targets(seed: u64) -> finefail_model::lora::LoraConfig {
    finefail_model::lora::LoraConfig {
        r: 4,
        alpha: 8.0,
        dropout: 0.0,
        targets: finefail_model::lora::TARGETABLE.map(String::from).to_vec(),
        seed,
    }
}

/// Mean next-token cross-entropy of one row of `tokens` under `model` (plain ops, full logits).
pub fn next_token_loss(
    model: &finefail_model::llama::Llama,
    tokens: &[u32],
    dev: &Device,
) -> Tensor<1> {
    let t = tokens.len();
    let logits = model
        .forward(token_row(tokens, dev))
        .narrow(1, 0, t - 1)
        .reshape([t - 1, model.config().vocab_size]);
    let targets: Vec<i64> = tokens[1..].iter().map(|&x| i64::from(x)).collect();
    let targets = Tensor::<2, Int>::from_data(TensorData::new(targets, [t - 1, 1]), dev);
    burn::tensor::activation::log_softmax(logits, 1)
        .gather(1, targets)
        .mean()
        .neg()
}

/// Row-major `[rows, cols]` values transposed to `[cols, rows]`.
pub fn transpose(v: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; v.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = v[r * cols + c];
        }
    }
    out
}

/// Gives every adapter's B the values `((i mod 7) − 3) · step`: a fresh B is zero, which would
/// leave A without a gradient, so tests of both gradients set B first.
pub fn set_patterned_b(model: &mut finefail_model::llama::Llama, step: f32, dev: &Device) {
    for (_, lin) in model.linears_mut() {
        if let Some(l) = lin.lora.as_mut() {
            let [r, out] = l.b.dims();
            let b: Vec<f32> = (0..r * out)
                .map(|i| ((i % 7) as f32 - 3.0) * step)
                .collect();
            l.b = burn::module::Param::from_tensor(Tensor::from_data(
                TensorData::new(b, [r, out]),
                dev,
            ));
        }
    }
}

/// LoRA on every target (seed 5, B set by [`set_patterned_b`]), one backward of
/// [`next_token_loss`]: every adapter's ∂A then ∂B, flattened, in `model.linears()` order.
pub fn lora_grads(
    model: &mut finefail_model::llama::Llama,
    tokens: &[u32],
    dev: &Device,
) -> Vec<f32> {
    model.attach_lora(&lora_all_targets(5)).unwrap();
    set_patterned_b(model, 0.01, dev);
    let grads = next_token_loss(model, tokens, dev).backward();
    let mut out = Vec::new();
    for (_, lin) in model.linears() {
        let l = lin.lora.as_ref().unwrap();
        out.extend(values(l.a.val().grad(&grads).unwrap()));
        out.extend(values(l.b.val().grad(&grads).unwrap()));
    }
    out
}
