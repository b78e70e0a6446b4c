//! The decoder against an independent float64 numpy forward pass (tests/fixtures/make_tiny_models.py)
//! on tiny random Llama (GQA, untied, llama3 rope scaling), Mixtral (4 experts, top-2, f16 weights)
//! and Qwen2 (q/k/v bias, tied) checkpoints: max |diff| ≤ 1e-4 on every logit.

mod common;

use burn::tensor::Device;
use common::*;
use finefail_model::llama::Llama;

fn check(name: &str) {
    let dev = Device::flex();
    let model = Llama::load(&fixture(name), &dev).unwrap();
    let r = reference(name);
    let tokens = ref_tokens(&r);
    let logits = values(model.forward(token_row(&tokens, &dev)));
    let diff = max_abs_diff(&logits, &ref_logits(&r));
    eprintln!("{name}: max |diff| = {diff}");
    assert!(diff <= 1e-4, "{name}: max |diff| = {diff}");
}

#[test]
fn tiny_llama_matches_reference() {
    check("tiny_llama");
}

#[test]
fn tiny_mixtral_matches_reference() {
    check("tiny_mixtral");
}

#[test]
fn tiny_qwen2_matches_reference() {
    check("tiny_qwen2");
}
