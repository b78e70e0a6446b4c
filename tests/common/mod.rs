//! The tiny experiment shared by the end-to-end tests: the fine-tuning crate's generated tiny
//! Llama + word-level ChatML tokenizer, its colour questions as a JSONL dataset, and a config that
//! runs the whole graph (sizes 0 and 4, seeds 0 and 1) in seconds.

#[path = "../../crates/finefail-train/tests/common/mod.rs"]
#[allow(unused_imports)]
mod tiny;

use std::path::{Path, PathBuf};

/// Writes the model, the dataset and `{name}.toml` into `dir`; `extra` is appended to the config
/// (e.g. a `[slurm]` table). Returns the config path.
pub fn write_tiny_experiment(dir: &Path, name: &str, epochs: usize, extra: &str) -> PathBuf {
    let model = dir.join("model");
    tiny::write_tiny_model(&model, 7);
    let lines: Vec<String> = tiny::records()
        .iter()
        .map(|r| {
            let item = r.question.trim_start_matches("what is the colour of the ").trim_end_matches(" ?");
            let answer: serde_json::Value = if r.answerable { r.answers[0].clone().into() } else { serde_json::json!([]) };
            serde_json::json!({"id": r.id, "question": r.question, "answer": answer, "context": format!("the {item} is {} .", r.answers[0])})
                .to_string()
        })
        .collect();
    std::fs::write(dir.join("tiny.jsonl"), lines.join("\n")).unwrap();
    let config = format!(
        r#"name = "{name}"
device = "cpu"
[[datasets]]
name = "tiny"
format = "jsonl"
input = "{input}"
test_size = 6
val_size = 1
[[models]]
name = "tiny-llama"
path = "{model}"
[sweep]
sizes = [0, 4]
seeds = [0, 1]
[chunking]
size = 200
overlap = 20
[retrieval]
retriever = "bm25"
top_k = 2
[lora]
r = 4
alpha = 8.0
dropout = 0.0
[train]
epochs = {epochs}
batch_size = 2
lr = 1e-2
warmup_ratio = 0.0
max_seq_len = 128
checkpoint_every = 1
[generation]
max_new_tokens = 6
batch_size = 4
{extra}"#,
        input = dir.join("tiny.jsonl").display(),
        model = model.display()
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, config).unwrap();
    path
}
