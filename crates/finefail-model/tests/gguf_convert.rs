//! GGUF → Hugging Face conversion on a tiny Llama written by gguf-py with llama.cpp's q/k
//! permutation. Expected tensors come from gguf-py's quantize→dequantize of the *unpermuted* weights
//! (make_gguf_fixtures.py), expected token ids from llama.cpp's llama-tokenize (make_tok_fixtures.py).

use std::path::{Path, PathBuf};

use finefail_model::chat::{ChatMessage, ChatTemplate};
use finefail_model::convert::{convert_gguf, convert_gguf_with_progress, OutDtype};
use finefail_model::tokenizer::Tokenizer;
use safetensors::SafeTensors;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn converted() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tiny");
    let mut calls = Vec::new();
    let summary = convert_gguf_with_progress(
        &fixture("gguf_tiny_llama.gguf"),
        &out,
        OutDtype::F32,
        &mut |d, t| calls.push((d, t)),
    )
    .unwrap();
    assert_eq!(summary.architecture, "llama");
    assert_eq!(summary.n_tensors, 21);
    // One progress report per tensor, ending complete.
    assert_eq!(calls, (1..=21).map(|d| (d, 21)).collect::<Vec<_>>());
    assert!(!summary.tied_embeddings);
    assert_eq!(summary.vocab_size, 273);
    (dir, out)
}

#[test]
fn tensors_match_gguf_py_with_qk_unpermuted() {
    let (_dir, out) = converted();
    let got_bytes = std::fs::read(out.join("model.safetensors")).unwrap();
    let got = SafeTensors::deserialize(&got_bytes).unwrap();
    let want_bytes = std::fs::read(fixture("gguf_tiny_llama_expected.safetensors")).unwrap();
    let want = SafeTensors::deserialize(&want_bytes).unwrap();
    let mut names: Vec<String> = want.names().into_iter().map(String::from).collect();
    names.sort();
    let mut got_names: Vec<String> = got.names().into_iter().map(String::from).collect();
    got_names.sort();
    assert_eq!(got_names, names);
    for name in &names {
        let (g, w) = (got.tensor(name).unwrap(), want.tensor(name).unwrap());
        assert_eq!(g.dtype(), safetensors::Dtype::F32, "{name}");
        assert_eq!(g.shape(), w.shape(), "{name}");
        let (gv, wv) = (f32s(g.data()), f32s(w.data()));
        let max = gv
            .iter()
            .zip(&wv)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(max <= 1e-6, "{name}: max |diff| {max}");
    }
}

#[test]
fn config_files_carry_the_gguf_metadata() {
    let (_dir, out) = converted();
    let cfg = read_json(&out.join("config.json"));
    assert_eq!(cfg["architectures"][0], "LlamaForCausalLM");
    assert_eq!(cfg["model_type"], "llama");
    assert_eq!(cfg["hidden_size"], 32);
    assert_eq!(cfg["intermediate_size"], 64);
    assert_eq!(cfg["num_hidden_layers"], 2);
    assert_eq!(cfg["num_attention_heads"], 4);
    assert_eq!(cfg["num_key_value_heads"], 2);
    assert_eq!(cfg["head_dim"], 8);
    assert_eq!(cfg["vocab_size"], 273);
    assert_eq!(cfg["rms_norm_eps"], 1e-5);
    assert_eq!(cfg["rope_theta"], 10000.0);
    assert_eq!(cfg["max_position_embeddings"], 256);
    assert_eq!(cfg["tie_word_embeddings"], false);
    assert_eq!(cfg["bos_token_id"], 1);
    assert_eq!(cfg["eos_token_id"], 2);
    let tc = read_json(&out.join("tokenizer_config.json"));
    assert_eq!(tc["bos_token"], "<|im_start|>");
    assert_eq!(tc["eos_token"], "<|im_end|>");
    assert_eq!(tc["pad_token"], "<|im_end|>");
    assert_eq!(tc["unk_token"], "<|endoftext|>");
    assert_eq!(tc["add_bos_token"], false);
    let gc = read_json(&out.join("generation_config.json"));
    assert_eq!(gc["eos_token_id"], 2);
    assert_eq!(gc["pad_token_id"], 2);
}

/// Three tokenizer set-ups over the same vocabulary: SmolLM2's (`smollm`: digits one by one), Llama
/// 3's (`llama-bpe`: its regex, whole-word lookup before merges, BOS added) and Qwen2's.
#[test]
fn rebuilt_tokenizers_match_llama_cpp() {
    let cases = read_json(&fixture("tok_tiny_expected.json"));
    let dir = tempfile::tempdir().unwrap();
    for (model, cases) in cases["models"].as_object().unwrap() {
        let out = dir.path().join(model);
        convert_gguf(&fixture(model), &out, OutDtype::default()).unwrap();
        let tok = Tokenizer::from_dir(&out).unwrap();
        assert_eq!(tok.vocab_size(), 273);
        assert_eq!(tok.eos_token_ids(), vec![2]);
        assert_eq!(tok.pad_token_id(), 2);
        assert_eq!(tok.token_to_id("<|im_start|>"), Some(1));
        for case in cases.as_array().unwrap() {
            let text = case["text"].as_str().unwrap();
            let want: Vec<u32> = case["ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as u32)
                .collect();
            let got = tok.encode(text, true).unwrap();
            assert_eq!(got, want, "{model}: text {text:?}");
            let plain: Vec<u32> = if model.contains("bpe") {
                got[1..].to_vec()
            } else {
                got
            };
            assert_eq!(
                tok.decode(&plain, false).unwrap(),
                text,
                "{model}: round trip of {text:?}"
            );
        }
    }
}

#[test]
fn chat_template_comes_from_gguf_metadata() {
    let (_dir, out) = converted();
    let t = ChatTemplate::from_dir(&out).unwrap();
    let text = t.render(&[ChatMessage::new("user", "Hi")], true).unwrap();
    assert_eq!(
        text,
        "<|im_start|>system\nYou are a tiny test model<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    );
    assert_eq!(t.stop_strings(), vec!["<|im_end|>".to_string()]);
}

#[test]
fn refuses_existing_output_and_other_architectures_leaving_nothing_behind() {
    let (dir, out) = converted();
    let err = convert_gguf(&fixture("gguf_tiny_llama.gguf"), &out, OutDtype::F32).unwrap_err();
    assert!(
        err.is_bad_input() && err.to_string().contains("exists"),
        "{err}"
    );
    let other = dir.path().join("other");
    let err = convert_gguf(&fixture("gguf_types.gguf"), &other, OutDtype::F32).unwrap_err();
    assert!(
        err.is_bad_input() && err.to_string().contains("`test`"),
        "{err}"
    );
    assert!(!other.exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
