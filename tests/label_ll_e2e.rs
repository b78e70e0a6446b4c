//! Issue 25 end to end: a tiny run on a *label* dataset (yes/no questions) writes each local arm's
//! `label_ll.parquet` beside its answers, scores `label_ll_accuracy` (and `_norm`, and the per-label
//! log-probabilities) into `scores.parquet`, compares the accuracies in `comparison.json` as
//! secondary entries (the log-probabilities never), and the report splits the label-accuracy gain
//! into knowledge and format.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use finefail_data::tables::read_label_ll;
use finefail_data::Label;
use finefail_score::{read_scores, Metric};

/// Yes/no questions about the tiny items' colours: "is the apple red ?" (yes), "is the apple
/// green ?" (no), over the eight fruits (two questions each).
fn write_label_dataset(path: &Path) {
    let fruits = [
        "apple", "banana", "cherry", "grape", "lemon", "lime", "plum", "peach",
    ];
    let colours = [
        "red", "yellow", "red", "purple", "yellow", "green", "purple", "orange",
    ];
    let mut lines = Vec::new();
    for (i, (item, colour)) in fruits.iter().zip(colours).enumerate() {
        let other = if colour == "green" { "blue" } else { "green" };
        for (j, (asked, label)) in [(colour, "yes"), (other, "no")].into_iter().enumerate() {
            lines.push(
                serde_json::json!({
                    "id": format!("l{i}{j}"),
                    "question": format!("is the {item} {asked} ?"),
                    "answer": label,
                    "label": label,
                    "context": format!("the {item} is {colour} ."),
                })
                .to_string(),
            );
        }
    }
    std::fs::write(path, lines.join("\n")).unwrap();
}

/// The fixture tokenizer has no `yes` or `no`: two words the label dataset never uses (`snow`,
/// `coal`) are renamed to them, so the labels are distinct tokens (their capitalised spellings
/// stay the unknown token, the same for both labels).
fn teach_the_labels(tokenizer: &Path) {
    let text = std::fs::read_to_string(tokenizer).unwrap();
    let text = text
        .replace("\"snow\":", "\"yes\":")
        .replace("\"coal\":", "\"no\":");
    std::fs::write(tokenizer, text).unwrap();
}

#[test]
fn a_label_dataset_is_scored_by_label_log_likelihood_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let config = common::write_tiny_experiment(tmp.path(), "labels", 1, "");
    write_label_dataset(&tmp.path().join("tiny.jsonl"));
    teach_the_labels(&tmp.path().join("model/tokenizer.json"));
    let runs = tmp.path().join("runs");
    let o = Command::new(env!("CARGO_BIN_EXE_finefail"))
        .args([
            "run",
            config.to_str().unwrap(),
            "--runs-dir",
            runs.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let run = runs.join("labels");

    // Answering: every label of every test question, per local arm.
    for arm in ["n0", "n4/s0", "n4/s1"] {
        let table = run.join(format!("answers/tiny/tiny-llama/{arm}/label_ll.parquet"));
        let rows = read_label_ll(&table).unwrap();
        let questions: BTreeSet<&str> = rows.iter().map(|r| r.question_id.as_str()).collect();
        assert_eq!(questions.len(), 6, "{arm}: the six test questions");
        assert_eq!(
            rows.len(),
            12,
            "{arm}: yes and no for each (no maybe in this dataset)"
        );
        assert!(rows
            .iter()
            .all(|r| matches!(r.label, Label::Yes | Label::No)));
        assert!(rows
            .iter()
            .all(|r| r.log_prob.is_finite() && r.log_prob < 0.0));
    }

    // Scoring: the two accuracies and the per-label log-probabilities, per question.
    let scores = read_scores(&run.join("scores/tiny/tiny-llama/n4/s0/scores.parquet")).unwrap();
    let count = |m: Metric| scores.iter().filter(|r| r.metric == m).count();
    assert_eq!(count(Metric::LabelAccuracy), 6);
    assert_eq!(count(Metric::LabelLlAccuracy), 6);
    assert_eq!(count(Metric::LabelLlAccuracyNorm), 6);
    assert_eq!(count(Metric::LabelLlLogprobYes), 6);
    assert_eq!(count(Metric::LabelLlLogprobMaybe), 0);

    // Comparison: the accuracies as secondary entries, never the log-probabilities.
    let text = std::fs::read_to_string(run.join("comparison.json")).unwrap();
    let cmp: serde_json::Value = serde_json::from_str(&text).unwrap();
    let entries = cmp["comparisons"].as_array().unwrap();
    let ll: Vec<&serde_json::Value> = entries
        .iter()
        .filter(|c| c["metric"] == "label_ll_accuracy")
        .collect();
    assert!(!ll.is_empty(), "{text}");
    assert!(ll
        .iter()
        .all(|c| c["primary"] == false && c["verdict"].is_null()));
    assert!(entries
        .iter()
        .any(|c| c["metric"] == "label_accuracy" && c["primary"] == true));
    assert!(!text.contains("label_ll_logprob"), "{text}");

    // Resuming: a batch answered without its label part (as by code from before issue 25) is
    // redone whole, and gives the same label rows and answers as the uninterrupted run.
    let done = run.join("answers/tiny/tiny-llama/n0");
    let resumed = tmp.path().join("resumed");
    std::fs::create_dir_all(resumed.join("parts")).unwrap();
    for part in std::fs::read_dir(done.join("parts")).unwrap() {
        let part = part.unwrap().path();
        std::fs::copy(&part, resumed.join("parts").join(part.file_name().unwrap())).unwrap();
    }
    std::fs::remove_file(resumed.join("parts/label-ll-00000.parquet")).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_finefail"))
        .arg("answer")
        .args(["--data", run.join("data/tiny").to_str().unwrap()])
        .args(["--retrieval", run.join("retrieval/tiny").to_str().unwrap()])
        .args(["--model", tmp.path().join("model").to_str().unwrap()])
        .args([
            "--arm",
            "tiny/tiny-llama/n0",
            "--out",
            resumed.to_str().unwrap(),
        ])
        .args(["--top-k", "2", "--max-new-tokens", "6", "--batch-size", "4"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let without_ms = |path: &Path| {
        let mut rows = read_label_ll(path).unwrap();
        rows.iter_mut().for_each(|r| r.ms = 0);
        rows
    };
    assert_eq!(
        without_ms(&resumed.join("label_ll.parquet")),
        without_ms(&done.join("label_ll.parquet"))
    );
    let answers = |dir: &Path| {
        let rows = finefail_data::tables::read_answers(&dir.join("answers.parquet")).unwrap();
        rows.into_iter().map(|r| r.answer).collect::<Vec<_>>()
    };
    assert_eq!(answers(&resumed), answers(&done));

    // Report: the knowledge-or-format split beside the answer-format table.
    let report = std::fs::read_to_string(run.join("report/report.md")).unwrap();
    assert!(
        report.contains("knowledge (Δ label_ll_accuracy)"),
        "{report}"
    );
}
