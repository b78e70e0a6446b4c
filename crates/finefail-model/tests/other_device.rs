//! The same model code on another backend: with `--features tch` (`make check-gpu`), the tiny
//! checkpoints run on LibTorch (`FINEFAIL_TEST_DEVICE`, default `tch-cpu`; `tch-cuda:0` on a GPU
//! machine) and must match the numpy references, generate like the CPU, and give the same LoRA
//! gradients as the fused CPU kernels (the other device takes the plain-ops path), also with the
//! frozen base stored in bf16, int8 or NF4.
#![cfg(feature = "tch")]

mod common;

use burn::tensor::{Device, Int, Tensor, TensorData};
use common::*;
use finefail_model::attention_input::AttentionInput;
use finefail_model::device::parse_device;
use finefail_model::llama::Llama;
use finefail_model::lora::LoraConfig;
use finefail_model::ops::{head_cross_entropy, with_plain_kernels};

fn device() -> Device {
    let spec = std::env::var("FINEFAIL_TEST_DEVICE").unwrap_or_else(|_| "tch-cpu".into());
    parse_device(&spec).unwrap()
}

#[test]
fn tiny_models_match_the_references_on_the_other_device() {
    let dev = device();
    for name in ["tiny_llama", "tiny_mixtral", "tiny_qwen2"] {
        let model = Llama::load(&fixture(name), &dev).unwrap();
        let r = reference(name);
        let tokens = ref_tokens(&r);
        let logits = values(model.forward(token_row(&tokens, &dev)));
        let diff = max_abs_diff(&logits, &ref_logits(&r));
        eprintln!("{name} on {dev:?}: max |diff| = {diff}");
        assert!(diff <= 1e-4, "{name}: max |diff| = {diff}");
    }
}

/// The LoRA adapters' gradients of one step on `dev` (tiny_llama, 15 tokens).
fn adapter_grads(dev: Device) -> Vec<Vec<f32>> {
    let ad = dev.autodiff();
    let mut model = Llama::load(&fixture("tiny_llama"), &ad).unwrap();
    model
        .attach_lora(&LoraConfig {
            r: 4,
            alpha: 8.0,
            dropout: 0.0,
            targets: ["q_proj", "v_proj", "down_proj"].map(String::from).to_vec(),
            seed: 1,
        })
        .unwrap();
    set_patterned_b(&mut model, 0.05, &ad);
    let ids: Vec<i64> = (0..16).map(|i| (i * 5 + 1) % 64).collect();
    let tokens = Tensor::<2, Int>::from_data(TensorData::new(ids[..15].to_vec(), [1, 15]), &ad);
    let hidden = model.forward_hidden(tokens, &AttentionInput::causal(15, 0, &ad));
    let loss =
        head_cross_entropy(hidden.reshape([15, 32]), model.output_weight(), &ids[1..]).mean();
    let g = loss.backward();
    model
        .linears()
        .iter()
        .filter_map(|(_, l)| l.lora.as_ref())
        .flat_map(|a| {
            [
                values(a.a.val().grad(&g).unwrap()),
                values(a.b.val().grad(&g).unwrap()),
            ]
        })
        .collect::<Vec<_>>()
}

/// LoRA gradients of one step: other device (LibTorch's fused attention, plain ops otherwise) vs
/// flex (fused kernels).
#[test]
fn lora_gradients_equal_the_cpu_fused_path() {
    let (other, cpu) = (adapter_grads(device()), adapter_grads(Device::flex()));
    for (i, (o, c)) in other.iter().zip(&cpu).enumerate() {
        let scale = c.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let diff = max_abs_diff(o, c);
        eprintln!("adapter tensor {i}: max |diff| {diff:e}, scale {scale:e}");
        assert!(
            diff <= 1e-4 * scale.max(1e-3),
            "adapter tensor {i}: max |diff| {diff}, scale {scale}"
        );
    }
}

/// The same step with LibTorch's fused attention (training routes there) and with the plain
/// attention ops on the other device: f32 gradients within 1e-5 of each other.
#[test]
fn lora_gradients_with_torch_attention_equal_the_plain_ops() {
    let fused = adapter_grads(device());
    let plain = with_plain_kernels(|| adapter_grads(device()));
    for (i, (f, p)) in fused.iter().zip(&plain).enumerate() {
        let scale = p.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let diff = max_abs_diff(f, p);
        eprintln!("adapter tensor {i}: max |diff| {diff:e}, scale {scale:e}");
        assert!(
            diff <= 1e-5 * scale.max(1.0),
            "adapter tensor {i}: max |diff| {diff}, scale {scale}"
        );
    }
}

/// A frozen base stored in bf16, int8 or NF4 on the other device: the same logits as the same
/// storage on flex (the dequantization's integer ops — casts, division, remainder, gather — run
/// on LibTorch too).
#[test]
fn stored_bases_match_the_cpu_on_the_other_device() {
    use finefail_model::precision::Precision;
    let tokens = ref_tokens(&reference("tiny_llama"));
    for (d, q) in [("bf16", "none"), ("f32", "int8"), ("bf16", "nf4")] {
        let p = Precision::parse(d, q).unwrap();
        let logits = |dev: Device| {
            let model = Llama::load_with(&fixture("tiny_llama"), &dev, p).unwrap();
            values(model.forward(token_row(&tokens, &dev)))
        };
        let (other, cpu) = (logits(device()), logits(Device::flex()));
        let scale = cpu.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let diff = max_abs_diff(&other, &cpu);
        eprintln!("tiny_llama {p} on {:?}: max |diff| = {diff}", device());
        assert!(diff <= 1e-4 * scale.max(1.0), "{p}: max |diff| {diff}");
    }
}

/// Projections multiplied in bf16 on the other device (LibTorch's bf16 GEMM; cuBLAS on a GPU)
/// against flex's bf16 product: the same values up to bf16 rounding, logits and LoRA gradients,
/// for a bf16 and an NF4 base.
#[test]
fn bf16_compute_matches_the_cpu_within_bf16_rounding() {
    use finefail_model::precision::Precision;
    let tokens = ref_tokens(&reference("tiny_llama"));
    for (d, q) in [("bf16", "none"), ("bf16", "nf4")] {
        let p = Precision::parse(d, q)
            .unwrap()
            .with_compute("bf16")
            .unwrap();
        let logits = |dev: Device| {
            let model = Llama::load_with(&fixture("tiny_llama"), &dev, p).unwrap();
            values(model.forward(token_row(&tokens, &dev)))
        };
        let (other, cpu) = (logits(device()), logits(Device::flex()));
        let scale = cpu.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let diff = max_abs_diff(&other, &cpu) / scale;
        eprintln!(
            "tiny_llama {p} on {:?}: relative logits diff = {diff}",
            device()
        );
        assert!(diff <= 3e-2, "{p}: relative logits diff {diff}");

        let grads = |dev: Device| {
            let ad = dev.autodiff();
            let mut model = Llama::load_with(&fixture("tiny_llama"), &ad, p).unwrap();
            lora_grads(&mut model, &tokens, &ad)
        };
        let (other, cpu) = (grads(device()), grads(Device::flex()));
        let scale = cpu.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let diff = max_abs_diff(&other, &cpu) / scale;
        eprintln!(
            "tiny_llama {p} LoRA gradients on {:?}: relative diff = {diff}",
            device()
        );
        assert!(diff <= 5e-2, "{p}: relative gradient diff {diff}");
    }
}
