//! Reading a config: TOML text → `--set` overrides applied → every key checked against the schema
//! (unknown keys name the closest valid one) → typed [`Config`] → static validation.

use crate::config::{keys_of, Config};
use crate::error::{Result, RunnerError};
use crate::validate::validate;
use std::path::Path;
use toml::{Table, Value};

/// Reads and checks the config at `path` with `overrides` (`key=value`, value parsed as TOML).
pub fn load(path: &Path, overrides: &[String]) -> Result<Config> {
    let text = std::fs::read_to_string(path).map_err(|e| RunnerError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let mut table: Table = text.parse::<Table>().map_err(|e| {
        RunnerError::config(
            path,
            format!("not valid TOML: {}", e.to_string().replace('\n', " ")),
        )
    })?;
    for o in overrides {
        apply_override(&mut table, o)
            .map_err(|m| RunnerError::config(path, format!("--set {o}: {m}")))?;
    }
    check_keys(&table).map_err(|m| RunnerError::config(path, m))?;
    let mut config: Config = Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| RunnerError::config(path, e.message().replace('\n', " ")))?;
    if config.name.is_none() {
        config.name = path.file_stem().map(|s| s.to_string_lossy().into_owned());
    }
    validate(&config).map_err(|m| RunnerError::config(path, m))?;
    Ok(config)
}

/// Applies one `key.path=value` override. `datasets.NAME.key` and `models.NAME.key` address an
/// entry by its name. The value is parsed as TOML (`[0,50]`, `3`, `"x"`), else taken as a string.
pub fn apply_override(table: &mut Table, spec: &str) -> std::result::Result<(), String> {
    let (key, raw) = spec.split_once('=').ok_or("expected KEY=VALUE")?;
    let value = parse_value(raw.trim());
    let parts: Vec<&str> = key.trim().split('.').collect();
    match parts.as_slice() {
        [list @ ("datasets" | "models"), name, field] => {
            let entries = table
                .get_mut(*list)
                .and_then(Value::as_array_mut)
                .ok_or_else(|| format!("the config has no {list}"))?;
            let names: Vec<String> = entries
                .iter()
                .filter_map(|e| e.get("name")?.as_str().map(String::from))
                .collect();
            let entry = entries
                .iter_mut()
                .find(|e| e.get("name").and_then(Value::as_str) == Some(name))
                .ok_or_else(|| {
                    format!("no {list} entry named `{name}`; have: {}", names.join(", "))
                })?;
            entry
                .as_table_mut()
                .ok_or("entry is not a table")?
                .insert(field.to_string(), value);
            Ok(())
        }
        [top] => {
            table.insert(top.to_string(), value);
            Ok(())
        }
        [section, field] => {
            let t = table
                .entry(section.to_string())
                .or_insert_with(|| Value::Table(Table::new()));
            t.as_table_mut()
                .ok_or_else(|| format!("`{section}` is not a table"))?
                .insert(field.to_string(), value);
            Ok(())
        }
        _ => Err("keys look like `section.key` or `datasets.NAME.key`".into()),
    }
}

fn parse_value(raw: &str) -> Value {
    format!("v = {raw}")
        .parse::<Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(raw.to_string()))
}

/// Every key must be in the schema; the error names the closest valid key.
fn check_keys(table: &Table) -> std::result::Result<(), String> {
    for (key, value) in table {
        known(key, "", "")?;
        match value {
            Value::Table(t) => {
                for k in t.keys() {
                    known(k, key, &format!("{key}."))?;
                }
            }
            Value::Array(items) if key == "datasets" || key == "models" => {
                for item in items {
                    for k in item
                        .as_table()
                        .map(|t| t.keys().collect::<Vec<_>>())
                        .unwrap_or_default()
                    {
                        known(k, key, &format!("[[{key}]] "))?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn known(key: &str, table: &str, prefix: &str) -> std::result::Result<(), String> {
    let valid = keys_of(table);
    if valid.contains(&key) {
        return Ok(());
    }
    let closest = valid
        .iter()
        .min_by_key(|k| strsim::levenshtein(k, key))
        .copied()
        .unwrap_or("");
    Err(format!(
        "unknown key `{prefix}{key}`; did you mean `{prefix}{closest}`?"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

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
        assert_eq!(c.retrieval.retriever, "hybrid");
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
        assert_eq!(c.models[1].max_retries, Some(7));
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
        let schema_total: usize = crate::config::SCHEMA.iter().map(|(_, k)| k.len()).sum();
        assert_eq!(seen, schema_total);
        assert_eq!(c.train.keep, finefail_train::Keep::Last);
        assert_eq!(c.judge.unwrap().repeats, 3);
    }
}
