//! A whole tiny-model training step, fused kernels vs the plain burn-ops path: same loss, same
//! gradient on every LoRA tensor (≤ 1e-5 relative), for a Llama, a Qwen2 (q/k/v bias) and a Mixtral
//! (mixture of experts), with the loss over every position of a two-row batch.

mod common;

use burn::module::Param;
use burn::tensor::{Device, Int, Tensor, TensorData};
use common::*;
use finefail_model::attention_input::AttentionInput;
use finefail_model::llama::Llama;
use finefail_model::ops::{active, head_cross_entropy, with_plain_kernels};

/// Loss and the gradient of every adapter tensor (in model order).
fn step(model: &Llama, rows: &[Vec<u32>], dev: &Device) -> (f32, Vec<Vec<f32>>) {
    let (b, t) = (rows.len(), rows[0].len() - 1);
    let ids: Vec<i64> = rows
        .iter()
        .flat_map(|r| r[..t].iter().map(|&x| i64::from(x)))
        .collect();
    let targets: Vec<i64> = rows
        .iter()
        .flat_map(|r| r[1..].iter().map(|&x| i64::from(x)))
        .collect();
    let tokens = Tensor::<2, Int>::from_data(TensorData::new(ids, [b, t]), dev);
    let hidden = model.forward_hidden(tokens, &AttentionInput::causal(t, 0, dev));
    let d = model.config().hidden_size;
    let loss =
        head_cross_entropy(hidden.reshape([b * t, d]), model.output_weight(), &targets).mean();
    let value = values(loss.clone().inner())[0];
    let grads = loss.backward();
    let of = |p: &Param<Tensor<2>>| values(p.val().grad(&grads).expect("adapter gradient"));
    let g = model
        .linears()
        .iter()
        .filter_map(|(_, l)| l.lora.as_ref())
        .flat_map(|a| [of(&a.a), of(&a.b)])
        .collect();
    (value, g)
}

fn check(name: &str) {
    let dev = Device::flex().autodiff();
    assert!(
        active(&dev, burn::tensor::DType::F32),
        "the fused kernels serve flex"
    );
    let mut model = Llama::load(&fixture(name), &dev).unwrap();
    let lora = lora_all_targets(5);
    model.attach_lora(&lora).unwrap();
    // B = 0 in a fresh adapter would leave A without gradient; give B values so both are tested.
    let mut k = 0u32;
    for (_, lin) in model.linears_mut() {
        if let Some(a) = lin.lora.as_mut() {
            let [r, out] = a.b.dims();
            let v: Vec<f32> = (0..r * out)
                .map(|i| {
                    k += 1;
                    (((i as u32 * 7919 + k * 104_729) % 1000) as f32 / 1000.0 - 0.5) * 0.2
                })
                .collect();
            a.b = Param::from_tensor(Tensor::from_data(TensorData::new(v, [r, out]), &dev));
        }
    }
    let vocab = model.config().vocab_size as u32;
    let rows: Vec<Vec<u32>> = (0..2)
        .map(|r| (0..9).map(|i| (i * 5 + r * 3 + 1) % vocab).collect())
        .collect();
    let (fl, fg) = step(&model, &rows, &dev);
    let (pl, pg) = with_plain_kernels(|| step(&model, &rows, &dev));
    assert!(
        (fl - pl).abs() <= 1e-5 * pl.abs(),
        "{name}: loss {fl} vs {pl}"
    );
    assert_eq!(fg.len(), pg.len());
    for (i, (f, p)) in fg.iter().zip(&pg).enumerate() {
        let scale = p.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(scale > 0.0, "{name}: adapter tensor {i} has no gradient");
        let diff = max_abs_diff(f, p);
        assert!(
            diff <= 1e-5 * scale,
            "{name}: adapter tensor {i}: max |diff| {diff}, scale {scale}"
        );
    }
}

#[test]
fn fused_step_equals_plain_llama() {
    check("tiny_llama");
}

#[test]
fn fused_step_equals_plain_qwen2() {
    check("tiny_qwen2");
}

#[test]
fn fused_step_equals_plain_mixtral() {
    check("tiny_mixtral");
}
