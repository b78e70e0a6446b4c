//! GGUF reader against gguf-py: fixtures written and dequantized by llama.cpp's own Python package
//! (tests/fixtures/make_gguf_fixtures.py).

use std::path::PathBuf;

use finefail_model::gguf::{GgmlType, GgufFile, GgufValue};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn every_supported_type_matches_gguf_py() {
    let f = GgufFile::open(&fixture("gguf_types.gguf")).unwrap();
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("gguf_types.json")).unwrap())
            .unwrap();
    let tensors = expected["tensors"].as_object().unwrap();
    assert_eq!(tensors.len(), f.tensors().len());
    let mut seen_types = Vec::new();
    for (name, want) in tensors {
        let (shape, values) = f.tensor_f32(name).unwrap();
        let want_shape: Vec<usize> = want["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(shape, want_shape, "{name}");
        let want_values: Vec<f64> = want["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(values.len(), want_values.len(), "{name}");
        for (i, (g, w)) in values.iter().zip(&want_values).enumerate() {
            assert!((f64::from(*g) - w).abs() <= 1e-6, "{name}[{i}]: {g} vs {w}");
        }
        seen_types.push(f.tensor_info(name).unwrap().dtype);
    }
    for t in [
        GgmlType::F32,
        GgmlType::F16,
        GgmlType::BF16,
        GgmlType::Q8_0,
        GgmlType::Q4_0,
        GgmlType::Q4_1,
    ] {
        assert!(seen_types.contains(&t), "fixture lacks {t:?}");
    }
}

#[test]
fn metadata_of_every_type() {
    let f = GgufFile::open(&fixture("gguf_types.gguf")).unwrap();
    assert_eq!(f.version(), 3);
    assert_eq!(f.get("test.u8"), Some(&GgufValue::U8(200)));
    assert_eq!(f.get("test.i8"), Some(&GgufValue::I8(-7)));
    assert_eq!(f.get("test.u16"), Some(&GgufValue::U16(65000)));
    assert_eq!(f.get("test.i16"), Some(&GgufValue::I16(-30000)));
    assert_eq!(f.get("test.u32"), Some(&GgufValue::U32(4_000_000_000)));
    assert_eq!(f.get("test.i32"), Some(&GgufValue::I32(-2_000_000_000)));
    assert_eq!(f.get("test.u64"), Some(&GgufValue::U64((1 << 40) + 3)));
    assert_eq!(f.get("test.i64"), Some(&GgufValue::I64(-(1 << 40))));
    assert_eq!(f.get("test.f32"), Some(&GgufValue::F32(0.25)));
    assert_eq!(f.get("test.f64"), Some(&GgufValue::F64(-1.5e-300)));
    assert_eq!(f.get("test.bool"), Some(&GgufValue::Bool(true)));
    assert_eq!(f.require_str("test.string").unwrap(), "héllo\nworld");
    assert_eq!(f.require_str("general.architecture").unwrap(), "test");
    let ints: Vec<i64> = f
        .get("test.arr_i32")
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(ints, vec![1, -2, 3]);
    assert_eq!(
        f.require_str_array("test.arr_str").unwrap(),
        vec!["a", "", "ü"]
    );
    let err = f.require_u64("test.string").unwrap_err();
    assert!(
        err.is_bad_input() && err.to_string().contains("test.string"),
        "{err}"
    );
}

#[test]
fn a_missing_tensor_is_bad_input_and_the_once_refused_iq4_xs_decodes() {
    // The fixture's IQ4_XS tensor was the refused type until IQ4_XS was decoded (issue 27): its
    // all-zero block (d = 0) now reads as zeros. Refusals are checked on IQ2_XXS files in
    // gguf_convert_kquants.rs and tests/model_cli.rs.
    let f = GgufFile::open(&fixture("gguf_unsupported.gguf")).unwrap();
    assert_eq!(f.tensor_f32("t_f32").unwrap().1, vec![1.0; 64]);
    let (shape, values) = f.tensor_f32("t_iq4_xs").unwrap();
    assert_eq!(values.len(), 256, "{shape:?}");
    assert!(values.iter().all(|v| *v == 0.0));
    let missing = f.tensor_f32("nope").unwrap_err();
    assert!(
        missing.is_bad_input() && missing.to_string().contains("nope"),
        "{missing}"
    );
}

#[test]
fn truncated_files_are_bad_input() {
    let bytes = std::fs::read(fixture("gguf_types.gguf")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Cut inside the magic, the metadata, the tensor directory and the tensor data (the last few
    // bytes of the file are alignment padding, so the last cut stays 40 bytes before the end).
    for cut in [3, 40, bytes.len() / 3, bytes.len() - 100, bytes.len() - 40] {
        let p = dir.path().join(format!("cut{cut}.gguf"));
        std::fs::write(&p, &bytes[..cut]).unwrap();
        let err = GgufFile::open(&p).unwrap_err();
        assert!(err.is_bad_input(), "cut at {cut}: {err}");
        let msg = err.to_string();
        assert!(
            msg.contains("truncated") || msg.contains("too short"),
            "cut at {cut}: {msg}"
        );
    }
}

#[test]
fn not_a_gguf_file_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.gguf");
    std::fs::write(&p, b"PK\x03\x04 this is a zip file, not gguf at all").unwrap();
    let err = GgufFile::open(&p).unwrap_err();
    assert!(
        err.is_bad_input() && err.to_string().contains("magic"),
        "{err}"
    );
    let err = GgufFile::open(&dir.path().join("missing.gguf")).unwrap_err();
    assert!(err.is_bad_input(), "{err}");
}
