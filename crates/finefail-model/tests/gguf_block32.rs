//! Q5_0, Q5_1 and IQ4_NL (the 32-weight fallbacks inside llama.cpp's k-quant mixes) against
//! gguf-py's dequantization, on random and edge-case blocks recorded by
//! tests/fixtures/make_block32_reference.py: block by block, and through the reader on a GGUF whose
//! rows (96 weights) are not a multiple of 256. The comparison is bitwise: both sides take the same
//! f32 products, so any difference is a layout bug, not rounding.

use std::collections::BTreeSet;
use std::path::PathBuf;

use finefail_model::gguf::block32::{Block32, QK};
use finefail_model::gguf::{GgmlType, GgufFile};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn reference() -> serde_json::Value {
    let text = std::fs::read_to_string(fixture("block32_reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

const KINDS: [(&str, Block32, GgmlType); 3] = [
    ("Q5_0", Block32::Q5_0, GgmlType::Q5_0),
    ("Q5_1", Block32::Q5_1, GgmlType::Q5_1),
    ("IQ4_NL", Block32::IQ4_NL, GgmlType::IQ4_NL),
];

/// gguf-py's values for one type.
fn want_values(case: &serde_json::Value) -> Vec<f32> {
    hex::decode(case["values"].as_str().unwrap())
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn assert_bitwise(name: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{name}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(
            g.to_bits(),
            w.to_bits(),
            "{name} block {} weight {}: {g} vs gguf-py {w}",
            i / QK,
            i % QK
        );
    }
}

#[test]
fn every_32_weight_fallback_matches_gguf_py_bit_for_bit() {
    let r = reference();
    for (name, kind, _) in KINDS {
        let case = &r[name];
        assert_eq!(
            case["block_bytes"].as_u64(),
            Some(kind.block_bytes() as u64),
            "{name}"
        );
        let raw = hex::decode(case["raw"].as_str().unwrap()).unwrap();
        let want = want_values(case);
        let n_blocks = case["blocks"].as_u64().unwrap() as usize;
        assert!(n_blocks >= 10, "{name}: {n_blocks} blocks");
        assert_eq!(raw.len(), n_blocks * kind.block_bytes(), "{name}");
        assert_bitwise(name, &kind.dequantize(&raw), &want);
        // Each type's fixture must exercise its value range, not just zeros.
        let distinct: BTreeSet<u32> = want.iter().map(|v| v.to_bits()).collect();
        assert!(
            distinct.len() > 150,
            "{name}: {} distinct values",
            distinct.len()
        );
    }
    // Blocks quantized by gguf-py (not only random bytes) where it can quantize the type.
    assert_eq!(r["Q5_0"]["from_quantize"], true);
    assert_eq!(r["Q5_1"]["from_quantize"], true);
}

#[test]
fn reader_dequantizes_fallback_tensors_whose_rows_are_not_a_multiple_of_256() {
    let r = reference();
    let f = GgufFile::open(&fixture("gguf_block32.gguf")).unwrap();
    assert_eq!(f.tensors().len(), KINDS.len());
    for (name, _, dtype) in KINDS {
        let case = &r[name];
        let tensor = case["tensor"].as_str().unwrap();
        let info = f.tensor_info(tensor).unwrap();
        assert_eq!(info.dtype, dtype, "{tensor}");
        assert_eq!(info.dtype.name(), name);
        assert_eq!(info.ggml_dims, vec![96, 5], "{tensor}");
        assert_ne!(info.ggml_dims[0] % 256, 0);
        let (shape, values) = f.tensor_f32(tensor).unwrap();
        assert_eq!(shape, vec![5, 96], "{tensor}");
        assert_bitwise(tensor, &values, &want_values(case));
    }
}

#[test]
fn fallback_types_keep_ggml_ids_and_names() {
    for (id, name) in [(6, "Q5_0"), (7, "Q5_1"), (20, "IQ4_NL")] {
        let t = GgmlType::from_id(id);
        assert!(!matches!(t, GgmlType::Other(_)), "{name}");
        assert_eq!(t.name(), name);
    }
}
