//! `model convert` on a k-quant GGUF (a tiny Llama, rows 256 wide, every k-quant type among its
//! tensors) in each output dtype: the stored values are the reader's dequantized values rounded
//! to nearest even, the checkpoint loads back, and bf16/f16 logits stay close to f32's. The reader's
//! k-quant values themselves are checked against gguf-py in gguf_kquants.rs.

mod common;
#[path = "common/gguf_writer.rs"]
mod gguf_writer;

use std::path::Path;

use burn::tensor::Device;
use common::{fixture, max_abs_diff, token_row, values};
use finefail_model::convert::{convert_gguf, unpermute_rows, OutDtype};
use finefail_model::gguf::GgufFile;
use finefail_model::llama::Llama;
use finefail_model::weights::Checkpoint;
use gguf_writer::{kquant_llama_layout, HEADS, HIDDEN, IQ2_XXS, IQ4_NL, KV_HEADS, Q5_0, Q5_1};
use half::{bf16, f16};
use safetensors::SafeTensors;

/// The Hugging Face name and the values convert must store (f32), from the reader.
fn expected(gguf: &Path) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let f = GgufFile::open(gguf).unwrap();
    let hf = |n: &str| match n {
        "token_embd.weight" => "model.embed_tokens.weight".to_string(),
        "output_norm.weight" => "model.norm.weight".to_string(),
        "output.weight" => "lm_head.weight".to_string(),
        other => {
            let rest = other.strip_prefix("blk.0.").unwrap();
            let hf = match rest {
                "attn_norm.weight" => "input_layernorm.weight",
                "ffn_norm.weight" => "post_attention_layernorm.weight",
                "attn_q.weight" => "self_attn.q_proj.weight",
                "attn_k.weight" => "self_attn.k_proj.weight",
                "attn_v.weight" => "self_attn.v_proj.weight",
                "attn_output.weight" => "self_attn.o_proj.weight",
                "ffn_gate.weight" => "mlp.gate_proj.weight",
                "ffn_up.weight" => "mlp.up_proj.weight",
                "ffn_down.weight" => "mlp.down_proj.weight",
                _ => panic!("{other}"),
            };
            format!("model.layers.0.{hf}")
        }
    };
    kquant_llama_layout()
        .into_iter()
        .map(|(name, ..)| {
            let (shape, mut v) = f.tensor_f32(name).unwrap();
            match name {
                "blk.0.attn_q.weight" => v = unpermute_rows(&v, HEADS, HIDDEN as usize),
                "blk.0.attn_k.weight" => v = unpermute_rows(&v, KV_HEADS, HIDDEN as usize),
                _ => {}
            }
            (hf(name), shape, v)
        })
        .collect()
}

/// The tiny k-quant Llama with `ffn_down` of type `down_type` and norms `norm_value`.
fn write_kquant_llama(path: &Path, down_type: u32, norm_value: f32) {
    gguf_writer::write_kquant_llama(
        path,
        &fixture("gguf_tiny_llama.gguf"),
        down_type,
        norm_value,
    );
}

/// What `dtype` stores for `v`, as f32 (round to nearest even).
fn rounded(dtype: OutDtype, v: f32) -> f32 {
    match dtype {
        OutDtype::Bf16 => bf16::from_f32(v).to_f32(),
        OutDtype::F16 => f16::from_f32(v).to_f32(),
        OutDtype::F32 => v,
    }
}

#[test]
fn k_quant_llama_converts_in_every_dtype_and_loads_back() {
    let dir = tempfile::tempdir().unwrap();
    let gguf = dir.path().join("kq.gguf");
    write_kquant_llama(&gguf, 14, 1.0);
    let want = expected(&gguf);
    let dev = Device::flex();
    let tokens = [1u32, 40, 70, 100, 150, 200, 272, 2];
    let mut logits = Vec::new();
    let mut sizes = Vec::new();
    for dtype in OutDtype::ALL {
        let out = dir.path().join(dtype.name());
        let summary = convert_gguf(&gguf, &out, dtype).unwrap();
        assert_eq!(summary.dtype, dtype);
        assert_eq!(summary.n_tensors, 12);
        sizes.push(summary.safetensors_bytes);
        let cfg: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap())
                .unwrap();
        let torch = ["bfloat16", "float16", "float32"][sizes.len() - 1];
        assert_eq!(cfg["torch_dtype"], torch);
        // The file: dtype and bytes exactly as rounding the reader's values.
        let bytes = std::fs::read(out.join("model.safetensors")).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let st_dtype = match dtype {
            OutDtype::Bf16 => safetensors::Dtype::BF16,
            OutDtype::F16 => safetensors::Dtype::F16,
            OutDtype::F32 => safetensors::Dtype::F32,
        };
        // Loading: the checkpoint reader upcasts to exactly the rounded values.
        let ckpt = Checkpoint::open_dir(&out).unwrap();
        for (name, shape, v) in &want {
            let t = st.tensor(name).unwrap();
            assert_eq!(t.dtype(), st_dtype, "{name}");
            assert_eq!(t.shape(), shape.as_slice(), "{name}");
            let got = ckpt.read_f32(name, shape).unwrap();
            for (i, (g, w)) in got.iter().zip(v).enumerate() {
                assert_eq!(
                    g.to_bits(),
                    rounded(dtype, *w).to_bits(),
                    "{dtype:?} {name}[{i}]"
                );
            }
        }
        let model = Llama::load(&out, &dev).unwrap();
        logits.push(values(model.forward(token_row(&tokens, &dev))));
    }
    // bf16 and f16 are the same size up to the header's digits, f32 twice that.
    assert!(sizes[0].abs_diff(sizes[1]) < 64, "{sizes:?}");
    assert!(sizes[2].abs_diff(2 * sizes[0]) < 4096, "{sizes:?}");
    let f32_logits = &logits[2];
    assert!(f32_logits.iter().all(|x| x.is_finite()));
    let scale = f32_logits.iter().fold(0f32, |m, x| m.max(x.abs()));
    let bf16_diff = max_abs_diff(&logits[0], f32_logits);
    let f16_diff = max_abs_diff(&logits[1], f32_logits);
    eprintln!("max |logit| {scale}, bf16 max |diff| {bf16_diff}, f16 max |diff| {f16_diff}");
    assert!(bf16_diff <= 0.02 * scale, "bf16: {bf16_diff} of {scale}");
    assert!(f16_diff <= 0.005 * scale, "f16: {f16_diff} of {scale}");
}

/// A Q4_K_M file as llama.cpp writes it keeps some tensors in Q5_0 (Q5_K_M: Q5_1; the 2–3-bit
/// mixes: IQ4_NL); each converts, stores exactly the reader's values and loads back.
#[test]
fn fallback_types_inside_a_k_quant_mix_convert_and_load_back() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Device::flex();
    let tokens = [1u32, 40, 70, 100, 150, 200, 272, 2];
    for (down_type, name) in [(Q5_0, "Q5_0"), (Q5_1, "Q5_1"), (IQ4_NL, "IQ4_NL")] {
        let gguf = dir.path().join(format!("{name}.gguf"));
        write_kquant_llama(&gguf, down_type, 1.0);
        let f = GgufFile::open(&gguf).unwrap();
        let info = f.tensor_info("blk.0.ffn_down.weight").unwrap();
        assert_eq!(info.dtype.name(), name);
        let want = expected(&gguf);
        let out = dir.path().join(name);
        let summary = convert_gguf(&gguf, &out, OutDtype::F32).unwrap();
        assert_eq!(summary.n_tensors, 12, "{name}");
        let ckpt = Checkpoint::open_dir(&out).unwrap();
        for (hf, shape, v) in &want {
            let got = ckpt.read_f32(hf, shape).unwrap();
            let same = got.iter().zip(v).all(|(g, w)| g.to_bits() == w.to_bits());
            assert!(same && got.len() == v.len(), "{name}: {hf}");
        }
        let model = Llama::load(&out, &dev).unwrap();
        let logits = values(model.forward(token_row(&tokens, &dev)));
        assert!(logits.iter().all(|x| x.is_finite()), "{name}");
    }
}

#[test]
fn unsupported_tensor_type_is_bad_input_naming_file_type_and_what_is_supported() {
    let dir = tempfile::tempdir().unwrap();
    let gguf = dir.path().join("iq.gguf");
    write_kquant_llama(&gguf, IQ2_XXS, 1.0);
    let out = dir.path().join("out");
    let err = convert_gguf(&gguf, &out, OutDtype::Bf16).unwrap_err();
    let msg = err.to_string();
    assert!(err.is_bad_input(), "{msg}");
    assert!(msg.contains("iq.gguf") && msg.contains("IQ2_XXS"), "{msg}");
    assert!(msg.contains("Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS"), "{msg}");
    assert!(msg.contains("blk.0.ffn_down.weight"), "{msg}");
    assert!(!msg.contains('\n'), "{msg}");
    assert!(!out.exists());
}

#[test]
fn values_beyond_f16_are_refused_for_f16_only() {
    let dir = tempfile::tempdir().unwrap();
    let gguf = dir.path().join("big.gguf");
    write_kquant_llama(&gguf, 14, 1.0e5);
    let out = dir.path().join("f16");
    let err = convert_gguf(&gguf, &out, OutDtype::F16).unwrap_err();
    let msg = err.to_string();
    assert!(
        err.is_bad_input() && msg.contains("--dtype bf16 or f32"),
        "{msg}"
    );
    assert!(!out.exists());
    convert_gguf(&gguf, &dir.path().join("bf16"), OutDtype::Bf16).unwrap();
}
