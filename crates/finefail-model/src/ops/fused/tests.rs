//! Fused vs plain: values and gradients of every op on tiny shapes (≤ 1e-5 relative), including
//! strided inputs, GQA, a past (cached) segment, a padding mask and more query rows than one block.

use super::kernels;
use crate::attention_input::AttentionInput;
use crate::ops::{attention, head_cross_entropy, rms_norm, rope, swiglu, with_plain_kernels};
use crate::weights::tensor_values;
use burn::tensor::{Device, Tensor, TensorData};
use finefail_core::splitmix::SplitMix64;

/// Deterministic values in [-1, 1) (SplitMix64).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1));
    (0..n)
        .map(|_| ((rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0)
        .collect()
}

fn dev() -> Device {
    Device::flex().autodiff()
}

fn leaf<const D: usize>(shape: [usize; D], seed: u64) -> Tensor<D> {
    let n = shape.iter().product();
    Tensor::from_data(TensorData::new(values(n, seed), shape), &dev()).require_grad()
}

fn constant<const D: usize>(shape: [usize; D], seed: u64) -> Tensor<D> {
    let n = shape.iter().product();
    Tensor::from_data(TensorData::new(values(n, seed), shape), &dev())
}

fn close(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
    let worst = got
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(
        worst / scale <= 1e-5,
        "{what}: max |diff| {worst} vs scale {scale}"
    );
    assert!(
        got.iter().all(|v| v.is_finite()),
        "{what}: non-finite values"
    );
}

/// Runs `f` fused and plain on fresh leaves made by `make`, weights the output with fixed random
/// values, and compares outputs and every leaf's gradient.
fn compare<const D: usize, const O: usize>(
    what: &str,
    make: impl Fn() -> Vec<Tensor<D>>,
    f: impl Fn(Vec<Tensor<D>>) -> Tensor<O>,
) {
    let run = |plain: bool| {
        let leaves = make();
        let out = if plain {
            with_plain_kernels(|| f(leaves.clone()))
        } else {
            f(leaves.clone())
        };
        let shape = out.dims();
        let weights = constant::<O>(shape, 99);
        let loss = (out.clone() * weights).sum();
        let grads = loss.backward();
        let vals = tensor_values(out.inner()).unwrap();
        let gs: Vec<Option<Vec<f32>>> = leaves
            .iter()
            .map(|l| l.grad(&grads).map(|g| tensor_values(g).unwrap()))
            .collect();
        (vals, gs)
    };
    let (fo, fg) = run(false);
    let (po, pg) = run(true);
    close(&format!("{what} values"), &fo, &po);
    for (i, (a, b)) in fg.iter().zip(&pg).enumerate() {
        match (a, b) {
            (Some(a), Some(b)) => close(&format!("{what} grad {i}"), a, b),
            (None, None) => {}
            _ => panic!("{what} grad {i}: present on one path only"),
        }
    }
}

#[test]
fn rms_norm_matches_plain() {
    compare(
        "rms_norm",
        || vec![leaf([2, 5, 8], 1)],
        |v| {
            let gamma = leaf([8], 2);
            rms_norm(v[0].clone(), gamma, 1e-5)
        },
    );
    // γ's gradient too (it is frozen in the model, but the op supports it)
    let grads = |plain: bool| {
        let x = leaf([3, 4, 6], 3);
        let gamma = leaf([6], 4);
        let f = || rms_norm(x.clone(), gamma.clone(), 1e-6);
        let out = if plain { with_plain_kernels(f) } else { f() };
        let g = (out * constant([3, 4, 6], 5)).sum().backward();
        tensor_values(gamma.grad(&g).unwrap()).unwrap()
    };
    close("rms_norm dγ", &grads(false), &grads(true));
}

#[test]
fn swiglu_matches_plain() {
    compare(
        "swiglu",
        || vec![leaf([2, 3, 8], 6), leaf([2, 3, 8], 7)],
        |v| swiglu(v[0].clone(), v[1].clone()),
    );
}

/// cos/sin tables of real rotary angles `[cb, 1, t, hd]`.
fn rope_tables(cb: usize, t: usize, hd: usize) -> (Tensor<4>, Tensor<4>) {
    let (mut c, mut s) = (Vec::new(), Vec::new());
    for row in 0..cb {
        for p in 0..t {
            for _ in 0..2 {
                for i in 0..hd / 2 {
                    let a = (p + 3 * row) as f32 / 10f32.powf(2.0 * i as f32 / hd as f32);
                    c.push(a.cos());
                    s.push(a.sin());
                }
            }
        }
    }
    let d = dev();
    (
        Tensor::from_data(TensorData::new(c, [cb, 1, t, hd]), &d),
        Tensor::from_data(TensorData::new(s, [cb, 1, t, hd]), &d),
    )
}

#[test]
fn rope_matches_plain_on_strided_input() {
    for cb in [1, 2] {
        compare(
            "rope",
            || vec![leaf([2, 5, 3, 8], 8)],
            |v| {
                // [b, t, h, hd] seen as [b, h, t, hd], as the decoder splits heads
                let x = v[0].clone().swap_dims(1, 2);
                let (cos, sin) = rope_tables(cb, 5, 8);
                rope(x, cos, sin)
            },
        );
    }
}

#[test]
fn attention_matches_plain_causal_gqa() {
    // 4 query heads over 2 kv heads; q, k, v strided like the decoder's head split
    compare(
        "attention causal",
        || {
            vec![
                leaf([2, 7, 4, 8], 10),
                leaf([2, 7, 2, 8], 11),
                leaf([2, 7, 2, 8], 12),
            ]
        },
        |v| {
            let (q, k, vv) = (
                v[0].clone().swap_dims(1, 2),
                v[1].clone().swap_dims(1, 2),
                v[2].clone().swap_dims(1, 2),
            );
            let input = AttentionInput::causal(7, 0, &dev());
            attention(q, k, vv, input.mask, true)
        },
    );
}

#[test]
fn attention_matches_plain_across_blocks() {
    let t = kernels::attention::BLOCK + 9;
    compare(
        "attention blocks",
        || {
            vec![
                leaf([1, 2, t, 4], 13),
                leaf([1, 1, t, 4], 14),
                leaf([1, 1, t, 4], 15),
            ]
        },
        |v| {
            let input = AttentionInput::causal(t, 0, &dev());
            attention(v[0].clone(), v[1].clone(), v[2].clone(), input.mask, true)
        },
    );
}

#[test]
fn attention_matches_plain_with_past_and_padding() {
    // 3 new queries after 4 cached keys; row 0 has two pads at the front
    let valid = vec![
        vec![false, false, true, true, true, true, true],
        vec![true; 7],
    ];
    compare(
        "attention masked",
        || {
            vec![
                leaf([2, 2, 3, 8], 16),
                leaf([2, 1, 7, 8], 17),
                leaf([2, 1, 7, 8], 18),
            ]
        },
        |v| {
            let input = AttentionInput::padded(&valid, 3, &dev());
            attention(v[0].clone(), v[1].clone(), v[2].clone(), input.mask, false)
        },
    );
    // the past without padding: causal-only with tk > t
    compare(
        "attention past",
        || {
            vec![
                leaf([1, 2, 3, 8], 19),
                leaf([1, 2, 7, 8], 20),
                leaf([1, 2, 7, 8], 21),
            ]
        },
        |v| {
            let input = AttentionInput::causal(3, 4, &dev());
            attention(v[0].clone(), v[1].clone(), v[2].clone(), input.mask, true)
        },
    );
}

#[test]
fn head_cross_entropy_matches_plain_untied_and_tied() {
    let targets = [3i64, 0, 10, 7, 7];
    compare(
        "head_cross_entropy untied",
        || vec![leaf([5, 8], 22)],
        |v| head_cross_entropy(v[0].clone(), constant([8, 11], 23), &targets),
    );
    compare(
        "head_cross_entropy tied view",
        || vec![leaf([5, 8], 24)],
        |v| {
            head_cross_entropy(
                v[0].clone(),
                constant::<2>([11, 8], 25).transpose(),
                &targets,
            )
        },
    );
}

/// More rows than one chunk of the fused cross-entropy.
#[test]
fn head_cross_entropy_matches_plain_across_chunks() {
    let n = kernels::head_cross_entropy::CHUNK + 5;
    let targets: Vec<i64> = (0..n as i64).map(|i| (i * 7) % 13).collect();
    compare(
        "head_cross_entropy chunks",
        || vec![leaf([n, 6], 26)],
        |v| head_cross_entropy(v[0].clone(), constant([6, 13], 27), &targets),
    );
}

/// Inference (no autodiff) takes the same kernels and gives the same values.
#[test]
fn fused_forward_without_autodiff() {
    let d = Device::flex();
    let x = Tensor::<3>::from_data(TensorData::new(values(40, 28), [1, 5, 8]), &d);
    let g = Tensor::<1>::from_data(TensorData::new(values(8, 29), [8]), &d);
    let fused = tensor_values(rms_norm(x.clone(), g.clone(), 1e-5)).unwrap();
    let plain = tensor_values(with_plain_kernels(|| rms_norm(x, g, 1e-5))).unwrap();
    close("rms_norm inference", &fused, &plain);
}
