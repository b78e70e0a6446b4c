//! Broken checkpoints fail with one bad-input error that names the problem: a tensor of the wrong
//! shape (name and both shapes), a missing tensor, a truncated safetensors file, an unknown
//! architecture, an inconsistent config.

mod common;

use burn::tensor::Device;
use common::*;
use finefail_model::llama::Llama;
use finefail_model::weights::{write_safetensors, Checkpoint};
use std::path::Path;

/// A copy of tiny_llama in a temp dir, with `edit` applied to its config.
fn copy_with_config(edit: impl Fn(&mut serde_json::Value)) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = fixture("tiny_llama");
    std::fs::copy(
        src.join("model.safetensors"),
        dir.path().join("model.safetensors"),
    )
    .unwrap();
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("config.json")).unwrap()).unwrap();
    edit(&mut cfg);
    std::fs::write(dir.path().join("config.json"), cfg.to_string()).unwrap();
    dir
}

fn load_err(dir: &Path) -> String {
    let err = Llama::load(dir, &Device::flex()).unwrap_err();
    assert!(err.is_bad_input(), "{err}");
    err.to_string()
}

#[test]
fn wrong_shape_names_tensor_and_both_shapes() {
    let dir = copy_with_config(|c| c["intermediate_size"] = serde_json::json!(40));
    let msg = load_err(dir.path());
    assert!(
        msg.contains("model.layers.0.mlp.gate_proj.weight")
            && msg.contains("[48, 32]")
            && msg.contains("[40, 32]"),
        "{msg}"
    );
}

#[test]
fn missing_tensor_is_named() {
    let dir = copy_with_config(|_| {});
    let ck = Checkpoint::open_dir(&fixture("tiny_llama")).unwrap();
    let tensors = ck
        .names()
        .into_iter()
        .filter(|n| *n != "model.norm.weight")
        .map(|n| {
            let (shape, _) = ck.info(n).unwrap();
            (
                n.to_string(),
                shape.clone(),
                ck.read_f32(n, &shape).unwrap(),
            )
        })
        .collect();
    write_safetensors(&dir.path().join("model.safetensors"), tensors).unwrap();
    let msg = load_err(dir.path());
    assert!(
        msg.contains("model.norm.weight") && msg.contains("missing"),
        "{msg}"
    );
}

#[test]
fn truncated_safetensors_is_bad_input() {
    let dir = copy_with_config(|_| {});
    let path = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    assert!(load_err(dir.path()).contains("truncated"));
}

#[test]
fn unknown_architecture_and_inconsistent_config() {
    let dir = copy_with_config(|c| c["model_type"] = serde_json::json!("gpt_neox"));
    assert!(load_err(dir.path()).contains("gpt_neox"));
    let dir = copy_with_config(|c| c["num_key_value_heads"] = serde_json::json!(3));
    let msg = load_err(dir.path());
    assert!(
        msg.contains("config.json") && msg.contains("num_key_value_heads"),
        "{msg}"
    );
    let dir = copy_with_config(|c| {
        c.as_object_mut().unwrap().remove("vocab_size");
    });
    assert!(load_err(dir.path()).contains("vocab_size"));
}

#[test]
fn missing_config_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let err = Llama::load(dir.path(), &Device::flex()).unwrap_err();
    assert!(err.is_bad_input(), "{err}");
}
