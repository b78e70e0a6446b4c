//! Reading a config: TOML text → `--set` overrides applied → every key checked against the
//! schema walked from the config structs (unknown keys name the closest valid one) → typed
//! [`Config`] (a bad value names its key) → static validation. Every error is one line naming
//! whose it is: the `--set` that caused it (`--set sweep.sizes=0,32: …`), else the file.

use crate::config::{schema, Config};
use crate::error::{Result, RunnerError};
use crate::validate::validate;
use finefail_train::config::schema::Schema;
use std::path::Path;
use toml::Table;

/// Reads and checks the config at `path` with `overrides` (`key=value`, value parsed as TOML).
pub fn load(path: &Path, overrides: &[String]) -> Result<Config> {
    let text = std::fs::read_to_string(path).map_err(|e| RunnerError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let file: Table = text.parse::<Table>().map_err(|e| {
        RunnerError::config(
            path,
            format!("not valid TOML: {}", e.to_string().replace('\n', " ")),
        )
    })?;
    let mut table = file.clone();
    for o in overrides {
        // An unknown key or an entry name that does not exist: this `--set`'s, whatever the file.
        apply_override(&mut table, o).map_err(|m| set_error(o, &m))?;
    }
    let message = match checked(path, table) {
        Ok(config) => return Ok(config),
        Err(m) => m,
    };
    // A bad value or a failed check: the last `--set` without which the error goes away (or
    // changes) is to blame; when none is, the file is.
    let culprit = overrides.iter().enumerate().rev().find(|&(i, _)| {
        let mut without = file.clone();
        overrides
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != i)
            .all(|(_, o)| apply_override(&mut without, o).is_ok())
            && checked(path, without).err().as_ref() != Some(&message)
    });
    Err(match culprit {
        Some((_, o)) => set_error(o, &message),
        None => RunnerError::config(path, message),
    })
}

/// Checks the keys of a config's table, reads it and validates it (the name defaults to the
/// file stem of `path`).
fn checked(path: &Path, table: Table) -> std::result::Result<Config, String> {
    let schema = schema();
    schema.check(&table)?;
    let mut config: Config = schema.read(table)?;
    if config.name.is_none() {
        config.name = path.file_stem().map(|s| s.to_string_lossy().into_owned());
    }
    validate(&config)?;
    Ok(config)
}

/// The error of the `--set` `spec`, with how to write its value when that is the trouble.
fn set_error(spec: &str, message: &str) -> RunnerError {
    RunnerError::Set {
        spec: spec.to_string(),
        message: Schema::explain_set(spec, message),
    }
}

/// Applies one `key.path=value` override with the one `--set` parser
/// ([`finefail_train::config::schema::Schema::apply_set`], which `finefail finetune --set` uses
/// too): `datasets.NAME.key` and `models.NAME.key` address an entry by its name; the value is
/// parsed as TOML (`[0,50]`, `3`, `"x"`), else taken as a string.
pub fn apply_override(table: &mut Table, spec: &str) -> std::result::Result<(), String> {
    schema().apply_set(table, spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use toml::Value;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    const MINIMAL: &str = r#"
[[datasets]]
name = "toy"
format = "jsonl"
input = "data/toy.jsonl"
test_size = 20

[[models]]
name = "tiny"
path = "checkpoints/tiny"
"#;

    #[test]
    fn defaults_fill_everything_else() {
        let f = write(MINIMAL);
        let c = load(f.path(), &[]).unwrap();
        assert_eq!(c.lora.r, 16);
        assert_eq!(c.lora.alpha, 32.0);
        assert_eq!(c.train.eps, 1e-8);
        assert_eq!(c.train.weight_decay, 0.0);
        assert_eq!(
            c.retrieval.retriever,
            finefail_rag::retrieve::Retriever::Hybrid
        );
        assert_eq!(c.retrieval.top_k, 3);
        assert_eq!(c.stats.bootstrap, 10_000);
        assert_eq!(c.generation.max_new_tokens, 64);
        assert_eq!(
            c.name.as_deref(),
            f.path().file_stem().and_then(|s| s.to_str())
        );
    }

    #[test]
    fn unknown_keys_suggest_the_closest() {
        let f = write(&format!(
            "{MINIMAL}\n[train]\nlearning_rat = 1e-4\nlr = 1e-3\n"
        ));
        let err = load(f.path(), &[]).unwrap_err().to_string();
        assert!(err.contains("unknown key `train.learning_rat`"), "{err}");
        let f = write(&format!("{MINIMAL}\n[trian]\nlr = 1e-3\n"));
        assert!(load(f.path(), &[])
            .unwrap_err()
            .to_string()
            .contains("did you mean `train`?"));
        let f = write(&MINIMAL.replace("test_size", "tset_size"));
        assert!(load(f.path(), &[])
            .unwrap_err()
            .to_string()
            .contains("did you mean `[[datasets]] test_size`?"));
    }

    #[test]
    fn overrides_reach_sections_and_named_entries() {
        let f = write(MINIMAL);
        let sets = [
            "sweep.sizes=[0,50]",
            "datasets.toy.test_size=7",
            "device=cuda:1",
            "lora.r=8",
        ]
        .map(String::from);
        let c = load(f.path(), &sets).unwrap();
        assert_eq!(c.sweep.sizes, vec![0, 50]);
        assert_eq!(c.datasets[0].test_size, 7);
        assert_eq!(c.device, "cuda:1");
        assert_eq!(c.lora.r, 8);
        let err = load(f.path(), &["datasets.nope.test_size=7".to_string()])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no datasets entry named `nope`; have: toy"),
            "{err}"
        );
        let err = load(f.path(), &["lora.rank=8".to_string()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("did you mean `lora.r`"), "{err}");
    }

    /// A `--set` error names the `--set` and its key, never the file (issue 26, item 6); a list
    /// written without brackets is shown in TOML; the file is blamed only for its own errors.
    #[test]
    fn set_errors_name_the_set_and_the_key_not_the_file() {
        let f = write(MINIMAL);
        let file = f.path().display().to_string();
        let err = |sets: &[&str]| {
            let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
            let e = load(f.path(), &sets).unwrap_err();
            assert!(crate::fault::UserFault::is_user_fault(&e));
            e.to_string()
        };
        assert_eq!(
            err(&["train.epoch=2"]),
            "--set train.epoch=2: unknown key `train.epoch`; did you mean `train.epochs`?"
        );
        assert_eq!(
            err(&["sweep.sizes=0,32"]),
            "--set sweep.sizes=0,32: sweep.sizes: invalid type: string \"0,32\", expected a \
             sequence (the value is TOML: write `--set sweep.sizes=[0,32]`)"
        );
        let e = err(&["lora.r=8", "eval.contexts=retrieved,none"]);
        assert!(
            e.starts_with("--set eval.contexts=retrieved,none: eval.contexts: invalid type")
                && e.ends_with("write `--set eval.contexts=[\"retrieved\",\"none\"]`)"),
            "{e}"
        );
        let e = err(&["datasets.toy.test_size=0"]);
        assert!(
            e.starts_with("--set datasets.toy.test_size=0: dataset `toy` has test_size = 0"),
            "{e}"
        );
        assert_eq!(
            err(&["sweep.sizes=[50]"]),
            "--set sweep.sizes=[50]: sweep.sizes must include 0 (the base model every size is \
             compared with)"
        );
        assert!(err(&["device.x=1"]).starts_with("--set device.x=1: `device` is a value"));
        assert!(err(&["sweep.sizes"]).starts_with("--set sweep.sizes: expected KEY=VALUE"));
        // A later --set of the same key wins, and is the one named.
        let e = err(&["lora.r=8", "lora.r=\"x\""]);
        assert!(
            e.starts_with("--set lora.r=\"x\": lora.r: invalid type"),
            "{e}"
        );
        // The file's own error stays the file's, whatever else is set.
        let bad = write(&format!("{MINIMAL}\n[lora]\nr = \"sixteen\"\n"));
        let e = load(bad.path(), &["lora.alpha=4".into()])
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(&format!("{}: lora.r", bad.path().display())),
            "{e}"
        );
        // …and a --set may fix it.
        assert_eq!(load(bad.path(), &["lora.r=4".into()]).unwrap().lora.r, 4);
        assert!(!err(&["train.epoch=2"]).contains(&file));
    }

    #[test]
    fn api_models_are_checked_and_keep_local_hashes() {
        let api = "\n[[models]]\nname = \"gpt\"\nkind = \"api\"\nurl = \"http://h/v1\"\nmodel = \"gpt-4\"\n";
        let c = load(write(&format!("{MINIMAL}{api}")).path(), &[]).unwrap();
        assert!(c.models[1].is_api() && !c.models[0].is_api());
        // A local entry serializes as it did before the API keys existed (same input hashes).
        assert_eq!(
            serde_json::to_value(&c.models[0]).unwrap(),
            serde_json::json!({"name": "tiny", "path": "checkpoints/tiny", "chat_template": null})
        );
        let j = serde_json::to_value(crate::config::Judge::default()).unwrap();
        assert!(j.get("reasoning").is_none() && j.get("reasoning_tokens").is_none());
        let err = |text: String| load(write(&text).path(), &[]).unwrap_err().to_string();
        let e = err(format!(
            "{MINIMAL}{}",
            api.replace("url = \"http://h/v1\"\n", "")
        ));
        assert!(e.contains("`url` and `model`"), "{e}");
        let e = err(format!("{MINIMAL}{api}path = \"p\"\n"));
        assert!(e.contains("has no `path`"), "{e}");
        let e = err(MINIMAL.replace("path = ", "url = \"http://h\"\npath = "));
        assert!(e.contains("`url` is a key of API models"), "{e}");
        let e = err(format!("{MINIMAL}{}", api.replace("\"api\"", "\"remote\"")));
        assert!(e.contains("unknown variant `remote`"), "{e}");
        let e = err(format!("{MINIMAL}{api}concurrency = 0\n"));
        assert!(e.contains("concurrency"), "{e}");
        let c = load(
            write(&format!("{MINIMAL}{api}")).path(),
            &["models.gpt.max_retries=7".into()],
        )
        .unwrap();
        assert_eq!(c.models[1].api_model().unwrap().max_retries, Some(7));
    }

    /// `eval.icl_shots` and `sweep.formats` are read and checked, and a config without them (or
    /// with their defaults) hashes as it did before they existed, so cached studies stay cached.
    #[test]
    fn icl_shots_and_formats_are_checked_and_keep_old_hashes() {
        // Named, so the hash does not follow the temporary file's name.
        let named = format!("name = \"s\"\n{MINIMAL}");
        let plain = load(write(&named).path(), &[]).unwrap();
        let json = serde_json::to_value(&plain).unwrap();
        assert!(json["eval"].get("icl_shots").is_none(), "{json}");
        assert!(json["sweep"].get("formats").is_none(), "{json}");
        let zero = load(
            write(&format!("{named}[eval]\nicl_shots = 0\n")).path(),
            &[],
        )
        .unwrap();
        assert_eq!(zero.hash(), plain.hash());
        let c = load(
            write(&named).path(),
            &[
                "eval.icl_shots=8".into(),
                "sweep.formats=[\"qa\", \"raft\"]".into(),
            ],
        )
        .unwrap();
        assert_eq!(c.eval.icl_shots, 8);
        assert!(c.names_formats());
        assert_ne!(c.hash(), plain.hash());
        let err = |set: &str| {
            load(write(MINIMAL).path(), &[set.to_string()])
                .unwrap_err()
                .to_string()
        };
        let e = err("sweep.formats=[\"qa\", \"qa\"]");
        assert!(e.contains("sweep.formats lists `qa` twice"), "{e}");
        let e = err("sweep.formats=[]");
        assert!(e.contains("sweep.formats is empty"), "{e}");
        let e = err("sweep.formats=[\"qa\", \"cot\"]");
        assert!(
            e.contains("sweep.formats: `cot`: expected qa, rag or raft"),
            "{e}"
        );
        assert!(
            !e.contains("train.format"),
            "names the key it sat under only: {e}"
        );
    }

    #[test]
    fn bad_words_name_the_file_the_key_and_the_choices() {
        let err = |text: String| {
            let f = write(&text);
            let e = load(f.path(), &[]).unwrap_err().to_string();
            assert!(e.starts_with(&f.path().display().to_string()), "{e}");
            assert!(!e.contains('\n'), "{e}");
            e
        };
        let with = |extra: &str| err(format!("{MINIMAL}{extra}"));
        let e = with("\n[chunking]\nunit = \"words\"\n");
        assert!(
            e.contains("chunking.unit: unknown variant `words`, expected `chars` or `tokens`"),
            "{e}"
        );
        let e = with("\n[retrieval]\nretriever = \"tfidf\"\n");
        assert!(
            e.contains(
                "retrieval.retriever: unknown retriever `tfidf` (expected bm25, dense or hybrid)"
            ),
            "{e}"
        );
        let e = with("\n[train]\nschedule = \"step\"\n");
        assert!(
            e.contains("train.schedule: `step`: expected linear, cosine or constant"),
            "{e}"
        );
        let e = with("\n[eval]\nmetrics = [\"bleu\"]\n");
        assert!(
            e.contains("eval.metrics: unknown variant `bleu`, expected one of `exact_match`"),
            "{e}"
        );
        let e = with("\n[eval]\ncontexts = [\"web\"]\n");
        assert!(e.contains("eval.contexts: unknown variant `web`"), "{e}");
        let e = err(MINIMAL.replace("\"jsonl\"", "\"xml\""));
        assert!(
            e.contains("[[datasets]] format: unknown format `xml`; valid formats: narrativeqa"),
            "{e}"
        );
        let e = err(MINIMAL.replace("test_size = 20", "split_unit = \"page\""));
        assert!(
            e.contains("[[datasets]] split_unit: unknown variant `page`, expected `question` or `document`"),
            "{e}"
        );
        let e = err(MINIMAL.replace("format = \"jsonl\"\n", ""));
        assert!(e.contains("missing field `format`"), "{e}");
        let e = with("dtype = \"f8\"\n");
        assert!(
            e.contains("model `tiny`: dtype: unknown dtype `f8` (expected auto, f32, bf16 or f16)"),
            "{e}"
        );
    }

    #[test]
    fn the_same_words_read_in_every_spelling_the_crates_accept() {
        let f = write(&format!(
            "{MINIMAL}dtype = \"bf16\"\nquantize = \"nf4\"\n\n[retrieval]\nretriever = \"dense\"\n"
        ));
        let c = load(
            f.path(),
            &[
                "train.schedule=cosine".into(),
                "chunking.unit=tokens".into(),
            ],
        )
        .unwrap();
        let local = c.models[0].local_model().unwrap();
        assert_eq!(
            (local.dtype, local.quantize),
            (
                Some(finefail_model::precision::WeightDtype::Bf16),
                Some(finefail_model::precision::Quantize::Nf4)
            )
        );
        assert_eq!(c.train.schedule, finefail_train::config::LrSchedule::Cosine);
        assert_eq!(c.chunking.unit, finefail_data::ChunkUnit::Tokens);
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["retrieval"]["retriever"], "dense");
        assert_eq!(json["models"][0]["quantize"], "nf4");
        assert_eq!(json["datasets"][0]["format"], "jsonl");
    }

    #[test]
    fn wrong_types_are_named() {
        let f = write(&format!("{MINIMAL}\n[lora]\nr = \"sixteen\"\n"));
        let err = load(f.path(), &[]).unwrap_err().to_string();
        assert!(
            err.contains("invalid type") || err.contains("expected"),
            "{err}"
        );
    }

    #[test]
    fn every_schema_key_is_accepted() {
        // A config that sets every key of the schema must parse: the schema and the structs agree.
        let text = r#"
name = "all"
device = "cpu"
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
[sweep]
sizes = [0, 10]
seeds = [0]
formats = ["qa", "raft"]
[chunking]
unit = "chars"
size = 500
overlap = 50
[retrieval]
retriever = "bm25"
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
raft_distractors = 4
raft_gold_fraction = 0.6
[generation]
max_new_tokens = 32
temperature = 0.0
top_p = 1.0
batch_size = 4
stop = ["\n\n"]
[eval]
contexts = ["retrieved", "none", "gold"]
metrics = ["token_f1"]
icl_shots = 2
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
family = "context"
target_mde = 0.1
[slurm]
partition = "gpu"
time = "01:00:00"
gres = "gpu:1"
cpus_per_task = 8
mem = "32G"
sbatch_args = ["--qos=high"]
[tracking]
mlflow_uri = "http://127.0.0.1:5000"
"#;
        let f = write(text);
        let c = load(f.path(), &[]).unwrap();
        // Count keys set above against the schema so neither can drift silently.
        let table: Table = text.parse().unwrap();
        let mut seen = 0;
        for v in table.values() {
            seen += 1;
            match v {
                Value::Table(t) => seen += t.len(),
                Value::Array(a) => {
                    // The keys used by any entry (a local and an API model use different ones).
                    let keys: std::collections::BTreeSet<&String> = a
                        .iter()
                        .flat_map(|e| e.as_table().unwrap().keys())
                        .collect();
                    seen += keys.len();
                }
                _ => {}
            }
        }
        let schema_total: usize = schema().tables().iter().map(|t| t.keys.len()).sum();
        assert_eq!(seen, schema_total);
        assert_eq!(c.train.keep, finefail_train::Keep::Last);
        assert_eq!(c.judge.unwrap().repeats, 3);
    }
}
