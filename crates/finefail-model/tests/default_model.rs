//! The converted default model (checkpoints/smollm2-135m-instruct, made by `make model`): tokenizer
//! reference ids, next-token argmax 7042 (" Paris"), last-position logits within 1e-3 (relative to the
//! largest logit) of the float64 numpy reference, and the chat answer naming Paris.
//! Skipped with a message when the checkpoint has not been fetched.

mod common;

use burn::tensor::Device;
use common::*;
use finefail_model::chat::ChatMessage;
use finefail_model::chat_model::ChatModel;
use finefail_model::sampling::SamplingConfig;
use finefail_model::weights::Checkpoint;
use std::path::PathBuf;

fn checkpoint() -> Option<PathBuf> {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../checkpoints/smollm2-135m-instruct");
    if dir.join("model.safetensors").is_file() && dir.join("tokenizer.json").is_file() {
        Some(dir)
    } else {
        eprintln!("skipped: {} not present (run `make model`)", dir.display());
        None
    }
}

#[test]
fn default_model_matches_reference_and_answers_paris() {
    let Some(dir) = checkpoint() else { return };
    let chat = ChatModel::load(&dir, None, &Device::flex()).unwrap();
    let ids = chat
        .tokenizer
        .encode("The capital of France is", true)
        .unwrap();
    assert_eq!(ids, vec![504, 3575, 282, 4649, 314]);

    let logits = chat.model.logits_of_ids(&ids).unwrap();
    let vocab = chat.model.config().vocab_size;
    let last = &logits[(ids.len() - 1) * vocab..];
    let argmax = (0..vocab)
        .max_by(|&a, &b| last[a].total_cmp(&last[b]))
        .unwrap();
    assert_eq!(argmax, 7042);

    let reference = Checkpoint::open_files(
        &fixture(""),
        &[fixture("default_model_reference.safetensors")],
    )
    .unwrap();
    let want = reference.read_f32("last_logits", &[vocab]).unwrap();
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let diff = max_abs_diff(last, &want);
    assert!(
        diff <= 1e-3 * scale,
        "max |diff| {diff} vs max |logit| {scale}"
    );

    let messages = vec![ChatMessage::new("user", "What is the capital of France?")];
    let config = chat.generation_config(
        32,
        SamplingConfig {
            temperature: 0.0,
            top_p: 1.0,
            seed: 0,
        },
    );
    let answer = chat.answer(&[messages], &config).unwrap().remove(0);
    assert!(answer.text.contains("Paris"), "answer: {:?}", answer.text);

    // A left-padded batch answers exactly as one conversation at a time.
    let conversations = vec![
        vec![ChatMessage::new("user", "What is the capital of France?")],
        vec![
            ChatMessage::new("system", "You answer in one short sentence."),
            ChatMessage::new("user", "Which planet is known as the red planet?"),
        ],
    ];
    let config = chat.generation_config(
        12,
        SamplingConfig {
            temperature: 0.0,
            top_p: 1.0,
            seed: 0,
        },
    );
    let batched = chat.answer(&conversations, &config).unwrap();
    for (conversation, together) in conversations.iter().zip(&batched) {
        let alone = chat
            .answer(std::slice::from_ref(conversation), &config)
            .unwrap()
            .remove(0);
        assert_eq!(alone.tokens, together.tokens);
    }
}
