//! The burn BERT embedder against embeddings recorded by an independent numpy implementation
//! (`fixtures/make_bert_fixtures.py`): a tiny random checkpoint always, the real all-MiniLM-L6-v2 when
//! `checkpoints/all-minilm-l6-v2` is present.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use finefail_rag::Embedder;
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

struct Reference {
    texts: Vec<String>,
    ids: Vec<Vec<u32>>,
    embeddings: Vec<Vec<f64>>,
}

fn reference(name: &str) -> Reference {
    let v: Value = serde_json::from_slice(&std::fs::read(fixtures().join(name)).unwrap()).unwrap();
    let mut r = Reference {
        texts: vec![],
        ids: vec![],
        embeddings: vec![],
    };
    for s in v["sentences"].as_array().unwrap() {
        r.texts.push(s["text"].as_str().unwrap().to_string());
        r.ids.push(
            s["ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as u32)
                .collect(),
        );
        r.embeddings.push(
            s["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect(),
        );
    }
    r
}

/// Embeds all reference texts in one padded batch and compares each to the unpadded reference.
fn check(embedder: &Embedder, r: &Reference) {
    assert_eq!(
        embedder.tokenize(&r.texts).unwrap(),
        r.ids,
        "token ids differ from the reference"
    );
    let mut calls = Vec::new();
    let got = embedder
        .embed(&r.texts, &mut |d, t| calls.push((d, t)))
        .unwrap();
    assert_eq!(calls.last(), Some(&(r.texts.len(), r.texts.len())));
    assert_eq!(got.rows(), r.texts.len());
    for (i, want) in r.embeddings.iter().enumerate() {
        let row = got.row(i);
        assert_eq!(row.len(), want.len());
        let dot: f64 = row.iter().zip(want).map(|(a, b)| f64::from(*a) * b).sum();
        let na: f64 = row
            .iter()
            .map(|a| f64::from(*a).powi(2))
            .sum::<f64>()
            .sqrt();
        let nb: f64 = want.iter().map(|b| b * b).sum::<f64>().sqrt();
        let cos = dot / (na * nb);
        let max_abs = row
            .iter()
            .zip(want)
            .map(|(a, b)| (f64::from(*a) - b).abs())
            .fold(0.0, f64::max);
        assert!(cos >= 1.0 - 1e-4, "text {i}: cosine {cos}");
        // f32 vs float64 reference: ~2e-7 measured; the tanh-approximate GELU gives ~1e-4.
        assert!(max_abs < 1e-5, "text {i}: max abs diff {max_abs}");
        assert!((na - 1.0).abs() < 1e-5, "text {i}: norm {na}");
    }
}

#[test]
fn tiny_bert_matches_numpy_reference() {
    let r = reference("tiny_bert_reference.json");
    // The tokenizer file truncates at 8 and pads to 16: both must be reset by the embedder.
    assert!(r.ids.iter().any(|i| i.len() > 8));
    assert_eq!(
        r.ids.last().map(Vec::len),
        Some(256),
        "the long text is cut at 256 word pieces"
    );
    for batch_size in [1, 4, 32] {
        let e = Embedder::load(&fixtures().join("tiny_bert"), &Device::flex())
            .unwrap()
            .with_batch_size(batch_size);
        check(&e, &r);
    }
}

#[test]
fn minilm_matches_numpy_reference() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../checkpoints/all-minilm-l6-v2");
    if !dir.join("model.safetensors").exists() {
        eprintln!("skipped: {} not present (run `make model`)", dir.display());
        return;
    }
    let r = reference("minilm_reference.json");
    let e = Embedder::load(&dir, &Device::flex()).unwrap();
    check(&e, &r);
}

#[test]
fn broken_checkpoints_are_bad_input_naming_the_tensor() {
    let tmp = tempfile::tempdir().unwrap();
    let src = fixtures().join("tiny_bert");
    for f in ["config.json", "tokenizer.json", "model.safetensors"] {
        std::fs::copy(src.join(f), tmp.path().join(f)).unwrap();
    }
    // Wrong shape: claim a wider intermediate layer than the weights have.
    let cfg = std::fs::read_to_string(src.join("config.json")).unwrap();
    let wide = cfg.replace("\"intermediate_size\": 64", "\"intermediate_size\": 65");
    assert_ne!(cfg, wide);
    std::fs::write(tmp.path().join("config.json"), wide).unwrap();
    let err = Embedder::load(tmp.path(), &Device::flex())
        .err()
        .expect("wrong shape must fail");
    assert!(err.is_bad_input());
    let msg = err.to_string();
    assert!(
        msg.contains("encoder.layer.0.intermediate.dense.weight")
            && msg.contains("[65, 32]")
            && msg.contains("[64, 32]"),
        "{msg}"
    );

    // Missing tensor: one more layer than the checkpoint holds.
    let deep = cfg.replace("\"num_hidden_layers\": 2", "\"num_hidden_layers\": 3");
    std::fs::write(tmp.path().join("config.json"), deep).unwrap();
    let err = Embedder::load(tmp.path(), &Device::flex())
        .err()
        .expect("missing tensor must fail");
    assert!(err.is_bad_input());
    assert!(
        err.to_string().contains("missing tensor `encoder.layer.2."),
        "{err}"
    );

    // Missing directory.
    let err = Embedder::load(&tmp.path().join("nope"), &Device::flex())
        .err()
        .unwrap();
    assert!(err.is_bad_input());
}
