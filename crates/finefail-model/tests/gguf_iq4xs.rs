//! IQ4_XS (the default type of llama.cpp's `IQ4_XS` preset) against gguf-py's dequantization, on
//! random and edge-case super-blocks recorded by tests/fixtures/make_iq4xs_reference.py. The
//! comparison is bitwise: both sides take the same f32 products, so any difference is a layout
//! bug, not rounding.

use std::path::PathBuf;

use finefail_model::gguf::iq4xs::{dequantize, BLOCK_BYTES, QK_K};

fn reference() -> serde_json::Value {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/iq4xs_reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn iq4_xs_matches_gguf_py_bit_for_bit() {
    let r = &reference()["IQ4_XS"];
    assert_eq!(r["block_bytes"].as_u64(), Some(BLOCK_BYTES as u64));
    let raw = hex::decode(r["raw"].as_str().unwrap()).unwrap();
    let want: Vec<f32> = hex::decode(r["values"].as_str().unwrap())
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let blocks = r["blocks"].as_u64().unwrap() as usize;
    assert_eq!(raw.len(), blocks * BLOCK_BYTES);
    let got = dequantize(&raw);
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(
            g.to_bits(),
            w.to_bits(),
            "block {} weight {}: {g} vs gguf-py {w}",
            i / QK_K,
            i % QK_K
        );
    }
    // The random blocks reach every scale and index: not all zeros, both signs.
    assert!(want.iter().any(|v| *v > 0.0) && want.iter().any(|v| *v < 0.0));
}
