//! k-quant dequantization (Q2_K … Q6_K) against gguf-py's, on random and edge-case super-blocks
//! recorded by tests/fixtures/make_kquant_reference.py. The comparison is bitwise: both sides take
//! the same f32 products in the same order, so any difference is a layout bug, not rounding.

use std::path::PathBuf;

use finefail_model::gguf::kquants::{KQuant, QK_K};

fn reference() -> serde_json::Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kquant_reference.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn every_k_quant_matches_gguf_py_bit_for_bit() {
    let r = reference();
    let kinds = [
        ("Q2_K", KQuant::Q2K),
        ("Q3_K", KQuant::Q3K),
        ("Q4_K", KQuant::Q4K),
        ("Q5_K", KQuant::Q5K),
        ("Q6_K", KQuant::Q6K),
    ];
    for (name, kind) in kinds {
        let case = &r[name];
        assert_eq!(
            case["block_bytes"].as_u64(),
            Some(kind.block_bytes() as u64),
            "{name}"
        );
        let raw = hex::decode(case["raw"].as_str().unwrap()).unwrap();
        let want: Vec<f32> = hex::decode(case["values"].as_str().unwrap())
            .unwrap()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let n_blocks = case["blocks"].as_u64().unwrap() as usize;
        assert!(n_blocks >= 10, "{name}: {n_blocks} blocks");
        assert_eq!(raw.len(), n_blocks * kind.block_bytes(), "{name}");
        assert_eq!(want.len(), n_blocks * QK_K, "{name}");
        let got = kind.dequantize(&raw);
        assert_eq!(got.len(), want.len(), "{name}");
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(
                g.to_bits(),
                w.to_bits(),
                "{name} block {} weight {}: {g} vs gguf-py {w}",
                i / QK_K,
                i % QK_K
            );
        }
        // Each type's fixture must exercise its value range, not just zeros.
        let distinct: std::collections::BTreeSet<u32> = want.iter().map(|v| v.to_bits()).collect();
        assert!(
            distinct.len() > 300,
            "{name}: {} distinct values",
            distinct.len()
        );
    }
}
