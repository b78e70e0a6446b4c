//! Special-token ids are gathered from tokenizer_config.json, generation_config.json and
//! config.json as transformers does; missing or broken tokenizer files are bad input.

use std::path::Path;

use finefail_model::tokenizer::Tokenizer;
use serde_json::json;

/// A tiny word-level tokenizer: ids 0..=5 for `<unk> <s> </s> <|eot|> hello world`.
fn write_tokenizer(dir: &Path) {
    let tok = json!({
        "version": "1.0", "truncation": null, "padding": null,
        "added_tokens": [
            {"id": 1, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
            {"id": 2, "content": "</s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
            {"id": 3, "content": "<|eot|>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}
        ],
        "normalizer": null,
        "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}
        },
        "decoder": null,
        "model": {"type": "WordLevel", "unk_token": "<unk>",
                  "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, "<|eot|>": 3, "hello": 4, "world": 5}}
    });
    std::fs::write(dir.join("tokenizer.json"), tok.to_string()).unwrap();
}

#[test]
fn ids_from_all_three_config_files() {
    let dir = tempfile::tempdir().unwrap();
    write_tokenizer(dir.path());
    std::fs::write(
        dir.path().join("tokenizer_config.json"),
        json!({"bos_token": {"content": "<s>"}, "eos_token": "</s>"}).to_string(),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("generation_config.json"),
        json!({"eos_token_id": [3, 2]}).to_string(),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        json!({"eos_token_id": 2, "pad_token_id": null}).to_string(),
    )
    .unwrap();
    let t = Tokenizer::from_dir(dir.path()).unwrap();
    assert_eq!(t.eos_token_ids(), vec![3, 2]);
    // No pad token anywhere: the first eos pads.
    assert_eq!(t.pad_token_id(), 3);
    assert_eq!(t.bos_token_id(), Some(1));
    assert_eq!(t.vocab_size(), 6);
    assert_eq!(t.token_to_id("world"), Some(5));
    assert_eq!(t.encode("hello world", true).unwrap(), vec![1, 4, 5]);
    assert_eq!(t.encode("hello<|eot|>world", false).unwrap(), vec![4, 3, 5]);
    assert_eq!(t.decode(&[1, 4, 3, 5], true).unwrap(), "hello world");
}

#[test]
fn pad_token_by_name_wins() {
    let dir = tempfile::tempdir().unwrap();
    write_tokenizer(dir.path());
    std::fs::write(
        dir.path().join("tokenizer_config.json"),
        json!({"pad_token": "<unk>", "eos_token": "</s>"}).to_string(),
    )
    .unwrap();
    let t = Tokenizer::from_dir(dir.path()).unwrap();
    assert_eq!(t.pad_token_id(), 0);
    assert_eq!(t.eos_token_ids(), vec![2]);
}

#[test]
fn missing_or_broken_files_are_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let err = Tokenizer::from_dir(dir.path()).unwrap_err();
    assert!(
        err.is_bad_input() && err.to_string().contains("tokenizer.json"),
        "{err}"
    );
    std::fs::write(dir.path().join("tokenizer.json"), "{not json").unwrap();
    assert!(Tokenizer::from_dir(dir.path()).unwrap_err().is_bad_input());
    write_tokenizer(dir.path());
    std::fs::write(dir.path().join("generation_config.json"), "[1,").unwrap();
    let err = Tokenizer::from_dir(dir.path()).unwrap_err();
    assert!(
        err.is_bad_input() && err.to_string().contains("generation_config.json"),
        "{err}"
    );
}
