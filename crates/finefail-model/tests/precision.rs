//! The frozen base in bf16, f16, int8 and NF4 against the f32 path, on the tiny Llama and Mixtral:
//! - the host quantizers against numpy's (`fixtures/make_quant_reference.py`, with bitsandbytes'
//!   published NF4 code book);
//! - the on-device dequantization against the host's: a quantized model's logits and LoRA
//!   gradients equal those of an f32 model holding the host-dequantized weights (≤ 1e-5);
//! - bf16/f16 storage against f32: logits within the storage format's rounding, gradients equal to
//!   an f32 model holding the rounded weights.

mod common;

use burn::tensor::{Device, Tensor, TensorData};
use common::*;
use finefail_model::frozen::FrozenWeight;
use finefail_model::llama::Llama;
use finefail_model::precision::{Precision, Quantize, WeightDtype};
use finefail_model::quant::{int8, nf4};
use finefail_model::weights::{write_safetensors, Checkpoint};
use half::{bf16, f16};

fn quant_reference() -> serde_json::Value {
    let p = fixture("quant_reference.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn ints(v: &serde_json::Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect()
}

#[test]
fn nf4_code_book_and_quantizer_match_the_reference() {
    let r = quant_reference();
    assert_eq!(floats(&r["nf4"]["code_book"]), nf4::CODE_BOOK.to_vec());
    let values = floats(&r["values"]);
    let q = nf4::quantize(&values);
    let codes: Vec<i64> = (0..values.len())
        .map(|i| {
            let b = q.packed[i / 2];
            i64::from(if i % 2 == 0 { b >> 4 } else { b & 15 })
        })
        .collect();
    assert_eq!(codes, ints(&r["nf4"]["codes"]));
    assert_eq!(q.absmax, floats(&r["nf4"]["absmax"]));
    assert_eq!(nf4::dequantize(&q), floats(&r["nf4"]["dequantized"]));
}

#[test]
fn int8_quantizer_matches_the_reference() {
    let r = quant_reference();
    let (rows, cols) = (
        r["rows"].as_u64().unwrap() as usize,
        r["cols"].as_u64().unwrap() as usize,
    );
    let q = int8::quantize(&floats(&r["values"]), rows, cols);
    let codes: Vec<i64> = q.codes.iter().map(|&c| i64::from(c)).collect();
    assert_eq!(codes, ints(&r["int8"]["codes"]));
    assert_eq!(q.scales, floats(&r["int8"]["scales"]));
    assert_eq!(
        int8::dequantize(&q, cols),
        floats(&r["int8"]["dequantized"])
    );
}

#[test]
fn device_dequantization_equals_the_host_one() {
    let r = quant_reference();
    let (rows, cols) = (6, 80);
    let values = floats(&r["values"]);
    let dev = Device::flex();
    for (quantize, want) in [
        (Quantize::Nf4, floats(&r["nf4"]["dequantized"])),
        (Quantize::Int8, floats(&r["int8"]["dequantized"])),
    ] {
        let p = Precision {
            quantize,
            ..Precision::F32
        };
        let w = FrozenWeight::from_checkpoint(&values, rows, cols, p, &dev);
        assert_eq!(w.dims(), [cols, rows]);
        // dense_f32 is [in, out]; the reference is row-major [out, in].
        let got = values_of(w.dense_f32().transpose());
        assert_eq!(got, want, "{quantize}");
    }
}

fn values_of<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    values(t)
}

/// What the host makes of a checkpoint's `[out, in]` values stored as `p`.
fn host_stored(values: &[f32], d_out: usize, d_in: usize, p: Precision) -> Vec<f32> {
    match (p.quantize, p.dtype) {
        (Quantize::Nf4, _) => nf4::dequantize(&nf4::quantize(values)),
        (Quantize::Int8, _) => int8::dequantize(&int8::quantize(values, d_out, d_in), d_in),
        (Quantize::None, WeightDtype::Bf16) => {
            values.iter().map(|&v| bf16::from_f32(v).to_f32()).collect()
        }
        (Quantize::None, WeightDtype::F16) => {
            values.iter().map(|&v| f16::from_f32(v).to_f32()).collect()
        }
        _ => values.to_vec(),
    }
}

/// The f32 model of the checkpoint as the host stores it under `p`: every projection (attention,
/// MLP, experts) rounded, or quantized and dequantized, by the host, and (16-bit storage) the
/// embeddings and head rounded the same way; norms, biases and the MoE router left alone.
fn host_reference(name: &str, p: Precision, dev: &Device) -> Llama {
    let src = fixture(name);
    let ck = Checkpoint::open_dir(&src).unwrap();
    // Embeddings and head keep the storage dtype; quantization leaves them alone.
    let dtype_only = Precision {
        dtype: p.dtype,
        quantize: Quantize::None,
        ..Precision::F32
    };
    let tensors = ck
        .names()
        .into_iter()
        .map(|n| {
            let (shape, _) = ck.info(n).unwrap();
            let values = ck.read_f32(n, &shape).unwrap();
            let stored = if n == "model.embed_tokens.weight" || n == "lm_head.weight" {
                host_stored(&values, 0, 0, dtype_only)
            } else if shape.len() == 2
                && n.starts_with("model.layers.")
                && !n.ends_with("block_sparse_moe.gate.weight")
            {
                // A projection, `[out, in]`.
                host_stored(&values, shape[0], shape[1], p)
            } else {
                values
            };
            (n.to_string(), shape, stored)
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(src.join("config.json"), dir.path().join("config.json")).unwrap();
    write_safetensors(&dir.path().join("model.safetensors"), tensors).unwrap();
    Llama::load(dir.path(), dev).unwrap()
}

fn settings() -> Vec<Precision> {
    [
        ("bf16", "none"),
        ("f16", "none"),
        ("f32", "int8"),
        ("f32", "nf4"),
        ("bf16", "nf4"),
    ]
    .iter()
    .map(|(d, q)| Precision::parse(d, q).unwrap())
    .collect()
}

#[test]
fn stored_base_gives_the_logits_of_its_host_reference() {
    let dev = Device::flex();
    for name in ["tiny_llama", "tiny_mixtral"] {
        let tokens = ref_tokens(&reference(name));
        let f32_logits = values(
            Llama::load(&fixture(name), &dev)
                .unwrap()
                .forward(token_row(&tokens, &dev)),
        );
        let scale = f32_logits.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        for p in settings() {
            let model = Llama::load_with(&fixture(name), &dev, p).unwrap();
            let got = values(model.forward(token_row(&tokens, &dev)));
            let want = values(host_reference(name, p, &dev).forward(token_row(&tokens, &dev)));
            let d = max_abs_diff(&got, &want);
            assert!(
                d <= 1e-5 * scale.max(1.0),
                "{name} {p}: {d} vs host reference"
            );
            // And the storage's own error against f32 stays in the format's range.
            let drift = max_abs_diff(&got, &f32_logits) / scale;
            let bound = match (p.quantize, p.dtype) {
                (Quantize::None, WeightDtype::F16) => 5e-3,
                (Quantize::None, _) => 3e-2,
                (Quantize::Int8, _) => 5e-2,
                (Quantize::Nf4, _) => 0.5,
            };
            assert!(drift < bound, "{name} {p}: relative drift {drift}");
            // (The tiny Mixtral's weights happen to be exact in f16; quantization always rounds.)
            if p.quantize != Quantize::None {
                assert!(drift > 0.0, "{name} {p}: storage changed nothing");
            }
        }
    }
}

#[test]
fn lora_gradients_on_a_stored_base_equal_the_host_reference() {
    let dev = Device::flex().autodiff();
    let tokens = ref_tokens(&reference("tiny_llama"));
    for p in settings() {
        let mut model = Llama::load_with(&fixture("tiny_llama"), &dev, p).unwrap();
        let got = lora_grads(&mut model, &tokens, &dev);
        let want = lora_grads(&mut host_reference("tiny_llama", p, &dev), &tokens, &dev);
        let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(scale > 0.0);
        let d = max_abs_diff(&got, &want) / scale;
        assert!(d <= 1e-5, "{p}: relative gradient difference {d}");
    }
}

#[test]
fn stored_bytes_shrink_as_promised() {
    let dev = Device::flex();
    let size = |p: Precision| -> usize {
        Llama::load_with(&fixture("tiny_llama"), &dev, p)
            .unwrap()
            .linears()
            .iter()
            .map(|(_, l)| l.weight.stored_bytes())
            .sum()
    };
    let f32_bytes = size(Precision::F32);
    let bf16_bytes = size(Precision::parse("bf16", "none").unwrap());
    let int8_bytes = size(Precision::parse("f32", "int8").unwrap());
    let nf4_bytes = size(Precision::parse("f32", "nf4").unwrap());
    assert_eq!(bf16_bytes * 2, f32_bytes);
    assert!(int8_bytes * 3 < f32_bytes, "{int8_bytes} vs {f32_bytes}");
    assert!(nf4_bytes * 5 < f32_bytes, "{nf4_bytes} vs {f32_bytes}");
}

#[test]
fn merging_an_adapter_into_a_quantized_base_keeps_it_separate() {
    let dev = Device::flex();
    let tokens = ref_tokens(&reference("tiny_llama"));
    let p = Precision::parse("f32", "nf4").unwrap();
    let mut model = Llama::load_with(&fixture("tiny_llama"), &dev, p).unwrap();
    finefail_model::peft::load_adapter(&mut model, &fixture("tiny_llama_lora")).unwrap();
    let before = values(model.forward(token_row(&tokens, &dev)));
    model.merge_lora();
    assert!(model.linears().iter().all(|(_, l)| !l.merged));
    let after = values(model.forward(token_row(&tokens, &dev)));
    assert_eq!(max_abs_diff(&before, &after), 0.0);
}

/// bf16 round-to-nearest-even of an f32, by hand (independent of the `half` crate and of burn).
fn round_bf16(x: f32) -> f32 {
    let b = x.to_bits();
    f32::from_bits((b + 0x7fff + ((b >> 16) & 1)) & 0xffff_0000)
}

/// A projection computing in bf16 multiplies the bf16-rounded input with the bf16 weight,
/// accumulates in f32 and rounds the product to bf16, as a GPU's bf16 GEMM does: checked against
/// that arithmetic done by hand in f64, to within one bf16 step of the result.
#[test]
fn a_bf16_compute_dtype_multiplies_as_a_bf16_gemm_does() {
    let dev = Device::flex();
    let (d_in, d_out, rows) = (48, 20, 3);
    let w_out_in: Vec<f32> = (0..d_out * d_in)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.0123)
        .collect();
    let x: Vec<f32> = (0..rows * d_in)
        .map(|i| ((i * 53 % 89) as f32 - 44.0) * 0.0377)
        .collect();
    let storage = Precision::parse("bf16", "none").unwrap();
    let linear = |compute: &str| {
        let p = storage.with_compute(compute).unwrap();
        let w = FrozenWeight::from_checkpoint(&w_out_in, d_out, d_in, p, &dev);
        finefail_model::lora::Linear::from_weight(w, None).computing_in(p.compute_dtype())
    };
    let xt = Tensor::<2>::from_data(TensorData::new(x.clone(), [rows, d_in]), &dev);
    let bf16_out = values(linear("bf16").forward(xt.clone()));
    let f32_out = values(linear("f32").forward(xt));
    let mut bf16_differs = false;
    for r in 0..rows {
        for o in 0..d_out {
            let dot = |round_x: bool| -> f64 {
                (0..d_in)
                    .map(|i| {
                        let xv = x[r * d_in + i];
                        let xv = if round_x { round_bf16(xv) } else { xv };
                        f64::from(xv) * f64::from(round_bf16(w_out_in[o * d_in + i]))
                    })
                    .sum()
            };
            let want = round_bf16(dot(true) as f32);
            let got = bf16_out[r * d_out + o];
            let step = want.abs().max(1e-3) / 128.0;
            assert!(
                (got - want).abs() <= step,
                "row {r} out {o}: {got} vs {want}"
            );
            // The f32 compute dtype keeps x unrounded and the product in f32.
            let plain = f32_out[r * d_out + o];
            assert!((f64::from(plain) - dot(false)).abs() < 1e-4, "{plain}");
            bf16_differs |= got != plain;
        }
    }
    assert!(bf16_differs, "the bf16 compute dtype changed nothing");
}

/// The whole model with its projections multiplied in bf16 (the GPU default for a bf16 base), on
/// flex: logits and LoRA gradients within bf16's rounding of the f32-compute path, for a bf16 and
/// an NF4 base.
#[test]
fn bf16_compute_stays_within_bf16_rounding_of_f32_compute() {
    let tokens = ref_tokens(&reference("tiny_llama"));
    for (d, q) in [("bf16", "none"), ("bf16", "nf4")] {
        let storage = Precision::parse(d, q).unwrap();
        let computing = |c: &str| storage.with_compute(c).unwrap();
        let dev = Device::flex();
        let logits = |p: Precision| {
            let model = Llama::load_with(&fixture("tiny_llama"), &dev, p).unwrap();
            values(model.forward(token_row(&tokens, &dev)))
        };
        let (f32c, bf16c) = (logits(computing("f32")), logits(computing("bf16")));
        let scale = f32c.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let drift = max_abs_diff(&bf16c, &f32c) / scale;
        eprintln!("{storage}: bf16 vs f32 compute, relative logits drift {drift}");
        assert!(
            drift > 0.0 && drift < 1.5e-2,
            "{storage}: logits drift {drift}"
        );

        let ad = Device::flex().autodiff();
        let grads = |p: Precision| {
            let mut model = Llama::load_with(&fixture("tiny_llama"), &ad, p).unwrap();
            lora_grads(&mut model, &tokens, &ad)
        };
        let (f32g, bf16g) = (grads(computing("f32")), grads(computing("bf16")));
        let scale = f32g.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let drift = max_abs_diff(&bf16g, &f32g) / scale;
        eprintln!("{storage}: bf16 vs f32 compute, relative LoRA gradient drift {drift}");
        assert!(
            drift > 0.0 && drift < 3e-2,
            "{storage}: gradient drift {drift}"
        );
    }
}

/// A checkpoint stored in bf16 and kept in bf16 loads its projections as raw bf16 words (no f32
/// round trip, the fast path): the model computes exactly what the same file read as f32 computes.
#[test]
fn a_bf16_checkpoint_loads_the_same_without_the_f32_round_trip() {
    use finefail_model::convert::{convert_gguf, OutDtype};
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bf16");
    convert_gguf(&fixture("gguf_tiny_llama.gguf"), &out, OutDtype::Bf16).unwrap();
    let dev = Device::flex();
    let tokens: Vec<u32> = (1..20).map(|i| (i * 37 % 250) as u32).collect();
    let logits = |p: Precision| {
        let model = Llama::load_with(&out, &dev, p).unwrap();
        values(model.forward(token_row(&tokens, &dev)))
    };
    let fast = logits(Precision::parse("bf16", "none").unwrap());
    let f32_read = logits(Precision::F32);
    let scale = f32_read.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let d = max_abs_diff(&fast, &f32_read);
    assert!(d <= 1e-6 * scale.max(1.0), "max |diff| {d}");
}

/// Issue 23, item 4 (fewer casts): an input that several bf16-compute projections read is cast
/// once and gives each the value its own `forward` gives; a projection whose output only feeds
/// the next one (gate, up) hands it over in bf16 — exactly `forward`'s value rounded to bf16,
/// with or without an adapter and a bias — and the next one (down) reads a bf16 input as `forward`
/// reads it cast up to f32. The f32 compute dtype keeps f32 everywhere.
#[test]
fn shared_inputs_are_cast_once_and_gate_up_hand_over_in_the_compute_dtype() {
    use burn::tensor::{DType, FloatDType};
    use finefail_model::lora::{Linear, ProjectionInput};
    let dev = Device::flex();
    let (rows, d_in, d_out) = (5, 24, 24); // square, so down can read gate's output
    let w: Vec<f32> = (0..d_out * d_in)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.0131)
        .collect();
    let x: Vec<f32> = (0..rows * d_in)
        .map(|i| ((i * 53 % 89) as f32 - 44.0) * 0.0377)
        .collect();
    let bias: Vec<f32> = (0..d_out).map(|i| i as f32 * 0.11 - 0.7).collect();
    let storage = Precision::parse("bf16", "none").unwrap();
    let linear = |compute: &str, with_bias: bool, adapter: bool| {
        let p = storage.with_compute(compute).unwrap();
        let wt = FrozenWeight::from_checkpoint(&w, d_out, d_in, p, &dev);
        let b =
            with_bias.then(|| Tensor::<1>::from_data(TensorData::new(bias.clone(), [d_out]), &dev));
        let mut l = Linear::from_weight(wt, b).computing_in(p.compute_dtype());
        if adapter {
            let a: Vec<f32> = (0..d_in * 3)
                .map(|i| (i % 7) as f32 * 0.05 - 0.15)
                .collect();
            let bm: Vec<f32> = (0..3 * d_out)
                .map(|i| (i % 5) as f32 * 0.04 - 0.1)
                .collect();
            l.set_lora(a, bm, 3, 2.0, 0.0, &dev);
        }
        l
    };
    let xt = Tensor::<2>::from_data(TensorData::new(x, [rows, d_in]), &dev);
    for (with_bias, adapter) in [(false, false), (true, false), (false, true), (true, true)] {
        let (gate, up) = (
            linear("bf16", with_bias, adapter),
            linear("bf16", with_bias, adapter),
        );
        let shared = ProjectionInput::shared(xt.clone(), &[&gate, &up]);
        for l in [&gate, &up] {
            let own = l.forward(xt.clone());
            assert_eq!(values_of(l.forward_shared(&shared)), values_of(own.clone()));
            let handed = l.forward_in_compute(&shared);
            assert_eq!(handed.dtype(), DType::BF16);
            let want = own.cast(FloatDType::BF16).cast(FloatDType::F32);
            assert_eq!(values_of(handed.cast(FloatDType::F32)), values_of(want));
        }
        // down reads SwiGLU's bf16 output without an f32 round trip of its own.
        let down = linear("bf16", with_bias, adapter);
        let h = gate.forward_in_compute(&shared);
        let got = down.forward_shared(&ProjectionInput::shared(h.clone(), &[&down]));
        assert_eq!(got.dtype(), DType::F32);
        assert_eq!(
            values_of(got),
            values_of(down.forward(h.cast(FloatDType::F32)))
        );

        let f32c = linear("f32", with_bias, adapter);
        let handed = f32c.forward_in_compute(&ProjectionInput::shared(xt.clone(), &[&f32c]));
        assert_eq!(handed.dtype(), DType::F32);
        assert_eq!(values_of(handed), values_of(f32c.forward(xt.clone())));
    }
}

/// `Llama::set_compute_dtype` (one load serving f32 and bf16 logits) switches every projection,
/// Mixtral's experts included: the switched model gives exactly the logits of a model loaded
/// with that compute dtype, both ways.
#[test]
fn switching_the_compute_dtype_equals_loading_with_it() {
    use burn::tensor::FloatDType;
    let dev = Device::flex();
    for name in ["tiny_llama", "tiny_mixtral"] {
        let tokens = ref_tokens(&reference(name));
        let storage = Precision::parse("bf16", "none").unwrap();
        let p = |c: &str| storage.with_compute(c).unwrap();
        let logits = |m: &Llama| values(m.forward(token_row(&tokens, &dev)));
        let load = |c: &str| Llama::load_with(&fixture(name), &dev, p(c)).unwrap();
        let (f32_loaded, bf16_loaded) = (logits(&load("f32")), logits(&load("bf16")));
        assert_ne!(
            f32_loaded, bf16_loaded,
            "{name}: bf16 compute changed nothing"
        );
        let mut m = load("f32");
        m.set_compute_dtype(FloatDType::BF16);
        assert_eq!(logits(&m), bf16_loaded, "{name}: f32 → bf16");
        m.set_compute_dtype(FloatDType::F32);
        assert_eq!(logits(&m), f32_loaded, "{name}: back to f32");
    }
}
