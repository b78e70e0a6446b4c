//! Per-seed work depends only on its own seed (issue 26): on the tiny experiment, 1 seed → 2 seeds →
//! 1 seed runs only the new seed's steps (plus compare and report) each time, and seed 0's adapter,
//! answers and scores stay byte-identical throughout.

mod common;

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// `finefail run CONFIG --set sweep.seeds=SEEDS`: the ids of the steps it started, and the
/// "N steps to run, M cached" of its first line.
fn run_with_seeds(config: &Path, runs: &Path, seeds: &str) -> (Vec<String>, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_finefail"))
        .arg("run")
        .arg(config)
        .arg("--runs-dir")
        .arg(runs)
        .args(["--set", &format!("sweep.seeds={seeds}")])
        .output()
        .expect("run finefail");
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "seeds {seeds}: {err}");
    let started = err
        .lines()
        .filter_map(|l| l.strip_prefix("start "))
        .filter_map(|l| l.split(" (step ").next())
        .map(String::from)
        .collect();
    let counts = err
        .lines()
        .find_map(|l| {
            let (_, rest) = l.split_once("`: ")?;
            let (counts, _) = rest.split_once(" → ")?;
            counts.contains("steps to run").then(|| counts.to_string())
        })
        .unwrap_or_else(|| panic!("no step count: {err}"));
    (started, counts)
}

/// sha256 of every file under `dir`, by relative path.
fn digests(dir: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, p: &Path, out: &mut BTreeMap<String, String>) {
        for e in std::fs::read_dir(p).unwrap().flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap().display().to_string();
                out.insert(
                    rel,
                    hex::encode(Sha256::digest(std::fs::read(&path).unwrap())),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    assert!(!out.is_empty(), "{} is empty", dir.display());
    out
}

#[test]
fn adding_and_removing_a_seed_runs_only_that_seeds_steps() {
    let tmp = tempfile::tempdir().unwrap();
    let config = common::write_tiny_experiment(tmp.path(), "seeds", 1, "");
    let runs = tmp.path().join("runs");
    let run_dir = runs.join("seeds");
    let seed0 = [
        "adapters/tiny/tiny-llama/n4/s0",
        "answers/tiny/tiny-llama/n4/s0",
        "scores/tiny/tiny-llama/n4/s0",
    ];
    let snapshot = || -> Vec<_> { seed0.iter().map(|d| digests(&run_dir.join(d))).collect() };

    // One seed: everything runs.
    let (started, counts) = run_with_seeds(&config, &runs, "[0]");
    assert!(counts.ends_with("steps to run, 0 cached"), "{counts}");
    assert!(started.iter().any(|s| s == "prepare/tiny"), "{started:?}");
    assert!(!started.iter().any(|s| s.ends_with("/s1")), "{started:?}");
    let first = snapshot();
    let comparison = std::fs::read(run_dir.join("comparison.json")).unwrap();

    // A second seed: only its fine-tune, answers and scores, then compare and report.
    let (started, counts) = run_with_seeds(&config, &runs, "[0,1]");
    let new_seed = [
        "finetune/tiny/tiny-llama/n4/s1",
        "answer/tiny/tiny-llama/n4/s1",
        "score/tiny/tiny-llama/n4/s1",
        "compare",
        "report",
    ];
    assert_eq!(started, new_seed, "{counts}");
    assert!(counts.starts_with("5 steps to run, "), "{counts}");
    assert_eq!(
        snapshot(),
        first,
        "seed 0's outputs changed when seed 1 was added"
    );
    assert!(run_dir
        .join("adapters/tiny/tiny-llama/n4/s1/adapter/adapter_model.safetensors")
        .is_file());

    // Back to one seed: only compare and report, and the comparison of the first run again.
    let (started, counts) = run_with_seeds(&config, &runs, "[0]");
    assert_eq!(started, ["compare", "report"], "{counts}");
    assert!(counts.starts_with("2 steps to run, "), "{counts}");
    assert_eq!(
        snapshot(),
        first,
        "seed 0's outputs changed when seed 1 was removed"
    );
    assert_eq!(
        String::from_utf8_lossy(&std::fs::read(run_dir.join("comparison.json")).unwrap()),
        String::from_utf8_lossy(&comparison)
    );
}
