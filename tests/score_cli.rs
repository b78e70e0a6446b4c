//! End-to-end tests of `finefail score`: metrics, paired comparison, and bad input.

use polars::prelude::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn finefail(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_finefail"))
        .args(args)
        .output()
        .expect("run finefail")
}

/// Prepares a 60-question dataset and returns (data dir, test question ids, their answers).
fn prepared(dir: &Path) -> (PathBuf, Vec<(String, String)>) {
    let input = dir.join("qa.jsonl");
    let lines: Vec<String> = (0..60)
        .map(|i| serde_json::json!({"id": format!("q{i}"), "question": format!("What is item {i}?"), "answer": format!("item number {i}"), "context": format!("Item {i} is item number {i}.")}).to_string())
        .collect();
    std::fs::write(&input, lines.join("\n")).unwrap();
    let data = dir.join("data");
    let o = finefail(&[
        "data",
        "prepare",
        "--format",
        "jsonl",
        "--input",
        input.to_str().unwrap(),
        "--out",
        data.to_str().unwrap(),
        "--test-size",
        "30",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let splits: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("splits.json")).unwrap()).unwrap();
    let test = splits["test"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string());
    let with_answers = test.map(|id| {
        let n = id.trim_start_matches('q').to_string();
        (id, format!("item number {n}"))
    });
    (data, with_answers.collect())
}

fn write_answers(path: &Path, arm: &str, rows: &[(String, String)]) {
    let n = rows.len();
    let mut df = DataFrame::new(
        n,
        vec![
            Column::new("arm".into(), vec![arm; n]),
            Column::new(
                "question_id".into(),
                rows.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
            ),
            Column::new("context".into(), vec!["retrieved"; n]),
            Column::new(
                "answer".into(),
                rows.iter().map(|r| r.1.as_str()).collect::<Vec<_>>(),
            ),
            Column::new("prompt_tokens".into(), vec![10u64; n]),
            Column::new("answer_tokens".into(), vec![3u64; n]),
            Column::new("ms".into(), vec![5u64; n]),
        ],
    )
    .unwrap();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    ParquetWriter::new(std::fs::File::create(path).unwrap())
        .finish(&mut df)
        .unwrap();
}

#[test]
fn a_worse_fine_tune_is_called_hurts_for_its_one_adapter() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, gold) = prepared(tmp.path());
    let base = tmp.path().join("base/answers.parquet");
    write_answers(&base, "toy/tiny/n0", &gold);
    let wrong: Vec<(String, String)> = gold
        .iter()
        .map(|(id, _)| (id.clone(), "something else entirely".to_string()))
        .collect();
    let ft = tmp.path().join("ft/answers.parquet");
    write_answers(&ft, "toy/tiny/n50/s0", &wrong);
    let out = tmp.path().join("scores");
    let o = finefail(&[
        "score",
        "--answers",
        base.to_str().unwrap(),
        ft.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let cmp: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("comparison.json")).unwrap())
            .unwrap();
    let f1 = cmp["comparisons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["metric"] == "token_f1")
        .expect("token_f1 compared");
    assert_eq!(f1["base_mean"], 1.0);
    assert_eq!(f1["ft_mean"], 0.0);
    // One training seed: the verdict speaks about that adapter, never a plain `hurts`.
    assert_eq!(f1["verdict"], "hurts_one_adapter");
    assert_eq!(f1["kind"], "vs_base");
    assert_eq!(f1["m"], 2);
    assert_eq!(cmp["primary_source"], "default");
    assert_eq!(f1["questions"], 30);
    assert!(out.join("scores.parquet").is_file());
}

#[test]
fn answers_for_unknown_questions_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, mut gold) = prepared(tmp.path());
    gold.push(("not-a-question".into(), "x".into()));
    let base = tmp.path().join("base/answers.parquet");
    write_answers(&base, "toy/tiny/n0", &gold);
    let out = tmp.path().join("scores");
    let o = finefail(&[
        "score",
        "--answers",
        base.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not-a-question"));
}
