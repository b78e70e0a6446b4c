//! The converted default model (checkpoints/smollm2-135m-instruct, made by `make model`) against
//! independent references: gguf-py + numpy checksums (make_gguf_smollm2_checksums.py) for the tensors,
//! llama.cpp's llama-tokenize (make_tok_fixtures.py) for the tokenizer. Skipped when not fetched.

use std::path::PathBuf;

use finefail_model::chat::{ChatMessage, ChatTemplate};
use finefail_model::tokenizer::Tokenizer;
use safetensors::SafeTensors;

fn checkpoint() -> Option<PathBuf> {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../checkpoints/smollm2-135m-instruct");
    if dir.join("model.safetensors").exists() {
        Some(dir)
    } else {
        eprintln!("skipped: {} not fetched (run `make model`)", dir.display());
        None
    }
}

fn fixture(name: &str) -> serde_json::Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn tokenizer_matches_llama_cpp() {
    let Some(dir) = checkpoint() else { return };
    let tok = Tokenizer::from_dir(&dir).unwrap();
    assert_eq!(
        tok.encode("The capital of France is", true).unwrap(),
        vec![504, 3575, 282, 4649, 314]
    );
    assert_eq!(tok.vocab_size(), 49152);
    assert_eq!(tok.eos_token_ids(), vec![2]);
    assert_eq!(tok.pad_token_id(), 2);
    assert_eq!(tok.decode(&[7042], false).unwrap(), " Paris");
    for case in fixture("tok_smollm2_expected.json")["cases"]
        .as_array()
        .unwrap()
    {
        let text = case["text"].as_str().unwrap();
        let want: Vec<u32> = case["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(tok.encode(text, true).unwrap(), want, "text {text:?}");
        assert_eq!(tok.decode(&want, false).unwrap(), text);
    }
}

#[test]
fn chat_template_is_chatml() {
    let Some(dir) = checkpoint() else { return };
    let t = ChatTemplate::from_dir(&dir).unwrap();
    let text = t
        .render(
            &[ChatMessage::new("user", "What is the capital of France?")],
            true,
        )
        .unwrap();
    assert_eq!(
        text,
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n\
         <|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
    );
    assert_eq!(t.stop_strings(), vec!["<|im_end|>".to_string()]);
}

#[test]
fn tensors_match_gguf_py_checksums() {
    let Some(dir) = checkpoint() else { return };
    let file = std::fs::File::open(dir.join("model.safetensors")).unwrap();
    // SAFETY: read-only map of a file this test does not modify.
    let map = unsafe { memmap2::Mmap::map(&file) }.unwrap();
    let st = SafeTensors::deserialize(&map).unwrap();
    assert!(
        st.tensor("lm_head.weight").is_err(),
        "SmolLM2 ties its head to the embedding"
    );
    assert_eq!(st.names().len(), 30 * 9 + 2);
    let sums = fixture("gguf_smollm2_checksums.json");
    for (name, want) in sums.as_object().unwrap() {
        let view = st.tensor(name).unwrap();
        let shape: Vec<usize> = want["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(view.shape(), shape.as_slice(), "{name}");
        let vals: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let cols = shape[shape.len() - 1];
        if let Some(row_sums) = want.get("row_sums") {
            for (r, s) in row_sums.as_array().unwrap().iter().enumerate() {
                let got: f64 = vals[r * cols..(r + 1) * cols]
                    .iter()
                    .map(|&x| f64::from(x))
                    .sum();
                assert!(
                    (got - s.as_f64().unwrap()).abs() < 1e-4,
                    "{name} row {r}: {got} vs {s}"
                );
            }
            for (r, row) in want["rows"].as_object().unwrap() {
                let r: usize = r.parse().unwrap();
                for (c, w) in row.as_array().unwrap().iter().enumerate() {
                    assert_eq!(
                        f64::from(vals[r * cols + c]),
                        w.as_f64().unwrap(),
                        "{name}[{r}, {c}]"
                    );
                }
            }
        } else {
            let sum: f64 = vals.iter().map(|&x| f64::from(x)).sum();
            let abs: f64 = vals.iter().map(|&x| f64::from(x).abs()).sum();
            let (ws, wa) = (
                want["sum"].as_f64().unwrap(),
                want["abs_sum"].as_f64().unwrap(),
            );
            assert!(
                (sum - ws).abs() <= 1e-6 * wa.max(1.0),
                "{name} sum {sum} vs {ws}"
            );
            assert!(
                (abs - wa).abs() <= 1e-6 * wa.max(1.0),
                "{name} abs sum {abs} vs {wa}"
            );
        }
    }
}
