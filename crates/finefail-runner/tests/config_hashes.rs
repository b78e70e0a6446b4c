//! Config hashes are pinned: every step's input hash is computed from serialized slices of the
//! config, so a change to how a config struct serializes (a renamed field, an enum written another
//! way, a default that moved) would silently rerun every finished study. This test serializes the
//! default config, the shipped `experiments/*.toml` and a config that sets every key (and every
//! enum value) and checks the sha256 of each against the values recorded from the code before the
//! config types were reworked (issue 22).

use finefail_runner::{load, Config};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

fn sha(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn load_text(text: &str, stem: &str) -> Config {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{stem}.toml"));
    std::fs::File::create(&path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    load(&path, &[]).unwrap()
}

/// Sets every key, with the non-default value of every enum-like setting.
const EVERY_KEY: &str = r#"
name = "all"
device = "tch-cuda:0"
device_memory_gb = 16.0
[[datasets]]
name = "d"
format = "jsonl"
input = "x.jsonl"
test_size = 5
val_size = 2
split_unit = "document"
split_seed = 1
sizes = [0, 10]
map = "question=q,answer=a"
[[models]]
name = "m"
path = "p"
chat_template = "{{ messages }}"
dtype = "bf16"
quantize = "nf4"
compute_dtype = "bf16"
model_config = "config.json"
[[models]]
name = "m8"
path = "p8"
dtype = "f16"
quantize = "int8"
compute_dtype = "f32"
[[models]]
name = "gpt"
kind = "api"
url = "http://127.0.0.1:9/v1"
model = "gpt-4"
key_env = "KEY"
concurrency = 2
timeout_s = 30
max_retries = 2
reasoning = true
reasoning_tokens = 2048
[[models]]
name = "gpt-min"
kind = "api"
url = "http://127.0.0.1:9"
model = "gpt-4o"
[sweep]
sizes = [0, 10]
seeds = [0]
[chunking]
unit = "tokens"
size = 500
overlap = 50
[retrieval]
retriever = "dense"
top_k = 4
embedder = "e"
[lora]
r = 4
alpha = 8.0
dropout = 0.0
targets = ["q_proj"]
[train]
format = "rag"
epochs = 1
max_steps = 10
lr = 1e-4
betas = [0.9, 0.95]
eps = 1e-8
weight_decay = 0.01
max_grad_norm = 1.0
schedule = "cosine"
warmup_ratio = 0.1
batch_size = 4
micro_batch_size = 2
max_seq_len = 256
checkpoint_every = 5
eval_every = 5
early_stop_patience = 2
keep = "last"
gradient_checkpointing = true
[generation]
max_new_tokens = 32
temperature = 0.0
top_p = 1.0
batch_size = 4
stop = ["\n\n"]
[eval]
contexts = ["retrieved", "none", "gold"]
metrics = ["token_f1"]
[judge]
url = "http://127.0.0.1:9/v1"
model = "gpt-4"
key_env = "KEY"
repeats = 3
concurrency = 2
timeout_s = 10
max_retries = 1
reasoning = true
reasoning_tokens = 1024
[stats]
bootstrap = 20000
alpha = 0.01
seed = 3
primary = ["token_f1"]
[slurm]
partition = "gpu"
time = "01:00:00"
gres = "gpu:1"
cpus_per_task = 8
mem = "32G"
sbatch_args = ["--qos=high"]
"#;

/// The other values of the enum-like settings, and a judge with its defaults.
const OTHER_VALUES: &str = r#"
[[datasets]]
name = "d"
format = "pubmedqa"
input = "x"
split_unit = "question"
[[models]]
name = "m"
path = "p"
dtype = "f32"
quantize = "none"
compute_dtype = "auto"
[[models]]
name = "m2"
path = "p2"
kind = "local"
dtype = "auto"
compute_dtype = "f16"
[chunking]
unit = "chars"
[retrieval]
retriever = "bm25"
[train]
format = "qa"
schedule = "constant"
keep = "best"
gradient_checkpointing = false
[judge]
url = "http://h"
model = "j"
"#;

fn cases() -> Vec<(&'static str, String)> {
    let mut out = vec![(
        "Config::default()",
        serde_json::to_string(&Config::default()).unwrap(),
    )];
    for stem in ["default", "langtest", "paper"] {
        let path = root().join(format!("experiments/{stem}.toml"));
        let c = load(&path, &[]).unwrap();
        out.push((stem, serde_json::to_string(&c).unwrap()));
    }
    out.push((
        "every key",
        serde_json::to_string(&load_text(EVERY_KEY, "all")).unwrap(),
    ));
    out.push((
        "other values",
        serde_json::to_string(&load_text(OTHER_VALUES, "other")).unwrap(),
    ));
    out
}

/// sha256 of `serde_json::to_string(&config)`, recorded from the code before the config types
/// were reworked (string settings, a flat `ModelEntry`, a hand-copied key list).
const EXPECTED: &[(&str, &str)] = &[
    (
        "Config::default()",
        "662a7bf28c824f1b6f20a2bffb88d7f5541b9a02d7f399e79c19f76457957a80",
    ),
    (
        // 2026-12-07: the default study's third seed (planned with `--plan --pilot`, issue 24);
        // the config changed, not how it serializes.
        "default",
        "950f8ebf72a8e7641fed8f580b36f474161ca92f2c97da64cf95c74ec0d8c39c",
    ),
    (
        // 2026-12-07: langtest.toml gained the in-context arm and the RAFT format (issue 25); the
        // config changed, not how it serializes (a config without them keeps its hash: the
        // "default" row above).
        "langtest",
        "3acd805615e9c047a2da61355a89a40bdc680c699feeb5879109cbaf423a4d6d",
    ),
    (
        "paper",
        "24a7b0e54106111f4789dafb134f5f1c33b7e14630b15df56661611cfd1ec2ff",
    ),
    (
        "every key",
        "a244e66dc90f48371778665171c08d0fdd482f94d84f4f15957e139d588e9d9a",
    ),
    (
        "other values",
        "51856e1c46ed6d949e01a0f35747f39c6c34ea0a8ce76179f86b8d47b55d83ce",
    ),
];

#[test]
fn serialized_configs_keep_their_hashes() {
    let mut failures = Vec::new();
    for (label, json) in cases() {
        let got = sha(&json);
        let want = EXPECTED.iter().find(|(l, _)| *l == label).map(|(_, h)| *h);
        if want != Some(got.as_str()) {
            failures.push(format!(
                "{label}: sha256 {got}, want {want:?}; serialized: {json}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
