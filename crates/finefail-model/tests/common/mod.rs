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
