//! Issue 25 end to end on a tiny label study: the in-context arm (`eval.icl_shots`) and two
//! training formats in one sweep (`sweep.formats = ["qa", "raft"]`). The run finishes;
//! `comparison.json` holds `vs_icl` and `vs_format` entries beside `vs_base`; the in-context arm
//! was shown exactly the seed's first K training questions; format arms and fine-tunes carry
//! their format in their names and folders; the report and the verdict table label them; and K
//! demonstrations that do not fit the model's window stop the run with exit 2 naming
//! `eval.icl_shots`.

#[path = "../crates/finefail-train/tests/common/mod.rs"]
#[allow(unused_imports)]
mod tiny;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn finefail(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_finefail"))
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A label dataset over the tiny model's words: "is the colour of the ITEM COLOUR ?" → yes / no,
/// with the passage saying the true colour (RAFT's gold document).
fn write_label_data(dir: &Path) -> PathBuf {
    let lines: Vec<String> = tiny::records()
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let item = r
                .question
                .trim_start_matches("what is the colour of the ")
                .trim_end_matches(" ?");
            let truth = r.answers[0].as_str();
            let (asked, label) = if i % 2 == 0 {
                (truth, "yes")
            } else {
                (if truth == "red" { "blue" } else { "red" }, "no")
            };
            serde_json::json!({
                "id": format!("lab-{i:02}"),
                "question": format!("is the colour of the {item} {asked} ?"),
                "answer": label,
                "label": label,
                "context": format!("the {item} is {truth} ."),
            })
            .to_string()
        })
        .collect();
    let path = dir.join("label.jsonl");
    std::fs::write(&path, lines.join("\n")).unwrap();
    path
}

fn write_config(dir: &Path, name: &str, model: &Path, input: &Path, shots: usize) -> PathBuf {
    let config = format!(
        r#"name = "{name}"
device = "cpu"
[[datasets]]
name = "lab"
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
formats = ["qa", "raft"]
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
epochs = 1
batch_size = 2
lr = 1e-2
warmup_ratio = 0.0
max_seq_len = 128
[generation]
max_new_tokens = 6
batch_size = 4
[eval]
icl_shots = {shots}
"#,
        input = input.display(),
        model = model.display()
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, config).unwrap();
    path
}

#[test]
fn in_context_arm_and_two_formats_run_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("model");
    tiny::write_tiny_model(&model, 7);
    let input = write_label_data(tmp.path());
    let config = write_config(tmp.path(), "alts", &model, &input, 2);
    let runs = tmp.path().join("runs");
    let (config_s, runs_s) = (config.to_str().unwrap(), runs.to_str().unwrap());

    let o = finefail(&["run", config_s, "--plan", "--runs-dir", runs_s]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let plan = text(&o.stdout);
    for step in [
        "finetune/lab/tiny-llama/qa/n4/s0",
        "finetune/lab/tiny-llama/raft/n4/s1",
        "answer/lab/tiny-llama/icl2/s1",
        "answer/lab/tiny-llama/n0",
    ] {
        assert!(plan.contains(step), "{step} not planned:\n{plan}");
    }

    let o = finefail(&["run", config_s, "--runs-dir", runs_s]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let run_dir = runs.join("alts");
    let stdout = text(&o.stdout);
    // The verdict table labels the in-context arm and the formats.
    assert!(stdout.contains("icl2"), "{stdout}");
    assert!(stdout.contains("raft 4"), "{stdout}");

    // The fine-tunes live in format folders; the in-context arm has no adapter.
    for f in ["qa", "raft"] {
        let dir = run_dir.join(format!("adapters/lab/tiny-llama/{f}/n4/s0/adapter"));
        assert!(dir.is_dir(), "{}", dir.display());
    }

    // The demonstrations are the seed's first K training questions.
    let splits = finefail_data::Splits::load(&run_dir.join("data/lab/splits.json")).unwrap();
    for seed in [0u64, 1] {
        let demos: Value = serde_json::from_str(
            &std::fs::read_to_string(run_dir.join(format!(
                "answers/lab/tiny-llama/icl2/s{seed}/demonstrations.json"
            )))
            .unwrap(),
        )
        .unwrap();
        let first = splits.train_subset(seed, 2).unwrap();
        let ids: Vec<&str> = demos["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(ids, first, "seed {seed}: {demos}");
        assert_eq!(
            demos["context"], false,
            "train.format qa: closed-book demonstrations"
        );
    }

    let cmp: Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("comparison.json")).unwrap())
            .unwrap();
    let entries = cmp["comparisons"].as_array().unwrap();
    let primary = |c: &&Value| c["metric"] == "label_accuracy";
    // The label dataset's primary metric is label accuracy, for every kind.
    let icl_base: Vec<&Value> = entries
        .iter()
        .filter(|c| c["kind"] == "vs_icl" && c["n"] == 0)
        .filter(primary)
        .collect();
    assert_eq!(icl_base.len(), 1, "{cmp}");
    let c = icl_base[0];
    assert_eq!(c["icl_shots"], 2);
    assert_eq!(c["primary"], true);
    assert_eq!(c["seeds"], serde_json::json!([0, 1]));
    assert!(c["p_holm"].is_number() && c["verdict"].is_string(), "{c}");
    // Each format's N = 4 against icl2, seeds paired.
    let vs_icl: Vec<&Value> = entries
        .iter()
        .filter(|c| c["kind"] == "vs_icl" && c["n"] == 4)
        .filter(primary)
        .collect();
    let formats: Vec<&str> = vs_icl
        .iter()
        .map(|c| c["format"].as_str().unwrap())
        .collect();
    assert_eq!(formats, ["qa", "raft"], "{cmp}");
    // raft against qa at N = 4.
    let vs_format: Vec<&Value> = entries
        .iter()
        .filter(|c| c["kind"] == "vs_format")
        .filter(primary)
        .collect();
    assert_eq!(vs_format.len(), 1, "{cmp}");
    assert_eq!(
        (&vs_format[0]["format"], &vs_format[0]["reference_format"]),
        (&Value::from("raft"), &Value::from("qa"))
    );
    // Each format against N = 0, and the same Holm family for every kind: vs_base ×2, vs_icl ×3,
    // vs_format ×1 on the one primary metric.
    let vs_base: Vec<&Value> = entries
        .iter()
        .filter(|c| c["kind"] == "vs_base")
        .filter(primary)
        .collect();
    assert_eq!(vs_base.len(), 2, "{cmp}");
    for c in vs_base
        .iter()
        .chain(&vs_icl)
        .chain(&vs_format)
        .chain(&icl_base)
    {
        assert_eq!(c["m"], 6, "{c}");
    }
    // Every local arm is also scored by label log-likelihood (the in-context arm with its
    // demonstrations in the prompt): secondary entries of each kind, never a verdict. The fixture
    // tokenizer has no `yes`/`no` (both are its unknown token, so every question ties and goes to
    // the first label): this checks the wiring; tests/label_ll_e2e.rs checks the values.
    for kind in ["vs_base", "vs_icl", "vs_format"] {
        let ll: Vec<&Value> = entries
            .iter()
            .filter(|c| c["kind"] == kind && c["metric"] == "label_ll_accuracy")
            .collect();
        assert!(!ll.is_empty(), "no {kind} label_ll_accuracy entry: {cmp}");
        assert!(
            ll.iter()
                .all(|c| c["primary"] == false && c["verdict"].is_null()),
            "{ll:?}"
        );
    }
    // One trend per format needs two sizes: none here.
    assert!(cmp["trends"].as_array().unwrap().is_empty(), "{cmp}");

    // The report's tables name the in-context arm and the formats.
    let md = std::fs::read_to_string(run_dir.join("report/report.md")).unwrap();
    assert!(
        md.contains("| icl2 | 0 |") && md.contains("| raft 4 | qa 4 |"),
        "{md}"
    );
    // The per-dataset metric table: base, in-context arm, then each format's size.
    let table = md
        .find("| label_accuracy | 0 |")
        .map(|i| &md[i..])
        .unwrap_or_default();
    let (icl, qa, raft) = (
        table.find("| label_accuracy | icl2 |"),
        table.find("| label_accuracy | qa 4 |"),
        table.find("| label_accuracy | raft 4 |"),
    );
    assert!(icl.is_some() && icl < qa && qa < raft, "{md}");
    assert!(run_dir.join("report/plots/forest.png").is_file());
    // per_question names each row's format and in-context shots, so `n == 0` splits cleanly.
    let file = std::fs::File::open(run_dir.join("per_question.parquet")).unwrap();
    let pq = {
        use polars::prelude::SerReader;
        polars::prelude::ParquetReader::new(file).finish().unwrap()
    };
    let col = |name: &str| pq.column(name).unwrap().as_materialized_series().clone();
    let (arm, format, shots) = (col("arm"), col("format"), col("icl_shots"));
    let (arm, format, shots) = (
        arm.str().unwrap(),
        format.str().unwrap(),
        shots.i64().unwrap(),
    );
    let mut kinds = std::collections::BTreeSet::new();
    for i in 0..pq.height() {
        let name = arm.get(i).unwrap();
        let want = if name.contains("/icl2/") {
            (None, Some(2))
        } else if name.contains("/raft/") {
            (Some("raft"), None)
        } else if name.contains("/qa/") {
            (Some("qa"), None)
        } else {
            (None, None)
        };
        assert_eq!((format.get(i), shots.get(i)), want, "{name}");
        kinds.insert(want);
    }
    assert_eq!(kinds.len(), 4, "base, icl2, qa and raft rows: {kinds:?}");
    // The metric-vs-N curve draws the in-context arm beside the formats' lines, and says so.
    let plots = run_dir.join("report/plots");
    let curve = std::fs::read_dir(&plots)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.contains("label_accuracy__vs_n") && name.ends_with(".svg")
        })
        .expect("a label_accuracy curve");
    let svg = std::fs::read_to_string(&curve).unwrap();
    assert!(svg.contains("· icl2"), "{}", curve.display());
    assert!(md.contains("is its in-context arm (icl{K}"), "{md}");
    // The label section splits each format's generated gain into knowledge and format.
    let split = md
        .find("knowledge (Δ label_ll_accuracy)")
        .map(|i| &md[i..])
        .unwrap_or_default();
    assert!(
        split.contains("| 4 (qa) |") && split.contains("| 4 (raft) |"),
        "{md}"
    );

    // K beyond the prepared training pool (9 questions): a plan warning, and `run` exits 2.
    let k = "eval.icl_shots=10";
    let o = finefail(&["run", config_s, "--plan", "--runs-dir", runs_s, "--set", k]);
    let err = text(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("eval.icl_shots = 10 is larger than its training pool (9)"),
        "{err}"
    );
    let o = finefail(&["run", config_s, "--runs-dir", runs_s, "--set", k]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
}

/// K demonstrations that do not fit the window: exit 2, one line naming `eval.icl_shots`.
#[test]
fn demonstrations_beyond_the_window_are_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("model");
    tiny::write_tiny_model(&model, 7);
    // The same model with a window of 96 positions.
    let cfg_path = model.join("config.json");
    let mut cfg: Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg_path).unwrap()).unwrap();
    cfg["max_position_embeddings"] = 96.into();
    std::fs::write(&cfg_path, cfg.to_string()).unwrap();
    let input = write_label_data(tmp.path());
    let config = write_config(tmp.path(), "budget", &model, &input, 9);
    let runs = tmp.path().join("runs");
    let o = finefail(&[
        "run",
        config.to_str().unwrap(),
        "--runs-dir",
        runs.to_str().unwrap(),
        "--set",
        "sweep.formats=[\"qa\"]",
        "--set",
        "sweep.seeds=[0]",
        "--set",
        "train.max_seq_len=64",
    ]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("eval.icl_shots = 9") && err.contains("do not fit the prompt"),
        "{err}"
    );
}
