//! End-to-end tests of `finefail data …`: the binary as a user runs it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn finefail(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_finefail"))
        .args(args)
        .output()
        .expect("run finefail")
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("crates/finefail-data/tests/fixtures")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A dataset of `n` JSONL questions over `n / 4` passages.
fn write_jsonl(dir: &Path, n: usize) -> PathBuf {
    let path = dir.join("qa.jsonl");
    let lines: Vec<String> = (0..n)
        .map(|i| {
            serde_json::json!({
                "question": format!("What is fact number {i} about topic {}?", i / 4),
                "answer": format!("answer {i}"),
                "context": format!("Topic {} holds facts {}. ", i / 4, i / 4 * 4).repeat(40),
            })
            .to_string()
        })
        .collect();
    std::fs::write(&path, lines.join("\n")).unwrap();
    path
}

fn stats(dir: &Path) -> serde_json::Value {
    let o = finefail(&["data", "stats", dir.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn prepare_stats_show_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let input = write_jsonl(tmp.path(), 120);
    let out = tmp.path().join("prepared");
    let o = finefail(&[
        "data",
        "prepare",
        "--format",
        "jsonl",
        "--input",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--name",
        "toy",
        "--test-size",
        "20",
        "--seeds",
        "0,1",
        "--chunk-size",
        "300",
        "--chunk-overlap",
        "50",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    for f in [
        "qa.parquet",
        "corpus.parquet",
        "chunks.parquet",
        "splits.json",
        "contamination.json",
        "stats.json",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let s = stats(&out);
    assert_eq!(s["rows"], 120);
    assert_eq!(s["questions"], 120);
    assert_eq!(s["documents"], 30);
    assert_eq!(s["test"], 20);
    assert_eq!(s["val"], 10);
    assert_eq!(s["train_available"], 90);
    assert_eq!(s["answer_types"]["free"], 120);
    assert_eq!(s["dropped"]["duplicates"], 0);
    assert!(s["chunks"].as_u64().unwrap() > 30);

    let splits: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("splits.json")).unwrap()).unwrap();
    assert_eq!(splits["unit"], "question");
    assert_eq!(splits["train_order"]["1"].as_array().unwrap().len(), 90);

    let o = finefail(&["data", "show", out.to_str().unwrap(), "--id", "toy:qa:7"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("What is fact number 6 about topic 1?") && text.contains("answer 6"),
        "{text}"
    );
    assert!(text.contains("Topic 1 holds facts 4."), "{text}");

    // Preparing again replaces the directory atomically and gives the same splits.
    let o = finefail(&[
        "data",
        "prepare",
        "--format",
        "jsonl",
        "--input",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--name",
        "toy",
        "--test-size",
        "20",
        "--seeds",
        "0,1",
        "--chunk-size",
        "300",
        "--chunk-overlap",
        "50",
    ]);
    assert!(o.status.success());
    let again: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("splits.json")).unwrap()).unwrap();
    assert_eq!(splits, again);
}

#[test]
fn document_split_of_the_narrativeqa_fixture() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("n");
    let input = fixtures().join("narrativeqa.jsonl");
    let o = finefail(&[
        "data",
        "prepare",
        "--format",
        "narrativeqa",
        "--input",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--test-size",
        "1",
        "--split-unit",
        "document",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = stats(&out);
    assert_eq!(
        (
            s["rows"].as_u64(),
            s["questions"].as_u64(),
            s["documents"].as_u64()
        ),
        (Some(4), Some(3), Some(2))
    );
    assert_eq!(s["dropped"]["duplicates"], 1);
    // Whole documents: the test set holds one story's questions (1 or 2), the pool the other's.
    let test = s["test"].as_u64().unwrap();
    assert!(test == 1 || test == 2);
    assert_eq!(
        test + s["val"].as_u64().unwrap() + s["train_available"].as_u64().unwrap(),
        3
    );
}

/// Runs a prepare that must fail with exit code 2, one line naming `needle`, and no output dir.
fn assert_bad_input(input: &Path, format: &str, extra: &[&str], needle: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let mut args = vec![
        "data",
        "prepare",
        "--format",
        format,
        "--input",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    if !extra.contains(&"--test-size") {
        args.extend_from_slice(&["--test-size", "1"]);
    }
    args.extend_from_slice(extra);
    let o = finefail(&args);
    let err = stderr(&o);
    assert_eq!(
        o.status.code(),
        Some(2),
        "expected exit 2, got {:?}: {err}",
        o.status.code()
    );
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "error must be one line: {err}"
    );
    assert!(
        err.contains(needle),
        "error should mention `{needle}`: {err}"
    );
    assert!(!out.exists(), "no partial output may be left");
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary files left behind: {leftovers:?}"
    );
}

#[test]
fn malformed_json_names_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("bad.jsonl");
    std::fs::write(
        &p,
        "{\"question\": \"a?\", \"answer\": \"b\"}\n{\"question\": \"c?\", \"answer\": \n",
    )
    .unwrap();
    assert_bad_input(&p, "jsonl", &[], "bad.jsonl (line 2): malformed JSON");
}

#[test]
fn missing_field_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("nq.jsonl");
    std::fs::write(&p, "{\"question\": \"Who?\", \"passage\": \"p\"}\n").unwrap();
    assert_bad_input(&p, "narrativeqa", &[], "missing required field `answer`");
}

#[test]
fn empty_input_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("empty.jsonl");
    std::fs::write(&p, "\n\n").unwrap();
    assert_bad_input(&p, "jsonl", &[], "no records");
}

#[test]
fn duplicate_ids_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("dup.jsonl");
    std::fs::write(&p, "{\"id\": \"x\", \"question\": \"a?\", \"answer\": \"b\"}\n{\"id\": \"x\", \"question\": \"c?\", \"answer\": \"d\"}\n").unwrap();
    assert_bad_input(&p, "jsonl", &[], "duplicate id `x`");
}

#[test]
fn empty_answer_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("e.jsonl");
    std::fs::write(
        &p,
        "{\"question\": \"a?\", \"answer\": \"  \"}\n{\"question\": \"c?\", \"answer\": \"d\"}\n",
    )
    .unwrap();
    assert_bad_input(&p, "jsonl", &[], "empty answer");
}

#[test]
fn unknown_format_lists_the_valid_ones() {
    assert_bad_input(
        &fixtures().join("generic.jsonl"),
        "xml",
        &[],
        "valid formats: narrativeqa",
    );
}

#[test]
fn unreadable_input_is_named() {
    assert_bad_input(
        Path::new("/nonexistent/finefail/input.jsonl"),
        "jsonl",
        &[],
        "/nonexistent/finefail/input.jsonl",
    );
}

#[test]
fn unwritable_output_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let blocker = tmp.path().join("a-file");
    std::fs::write(&blocker, "x").unwrap();
    let out = blocker.join("out");
    let input = fixtures().join("generic.jsonl");
    let o = finefail(&[
        "data",
        "prepare",
        "--format",
        "jsonl",
        "--input",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--test-size",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("a-file"), "{}", stderr(&o));
}

#[test]
fn too_large_test_set_says_how_many_there_are() {
    let input = fixtures().join("generic.jsonl");
    assert_bad_input(&input, "jsonl", &["--test-size", "5"], "has only 2");
}
