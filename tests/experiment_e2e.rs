//! The whole experiment on a tiny random model and a tiny dataset, through the binary: prepare →
//! retrieve → finetune (2 sizes × 2 seeds) → answer → score → compare → report. Then the same run
//! is killed at several moments and restarted until it finishes: the comparison must be identical.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn run(config: &Path, runs: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_finefail"))
        .args([
            "run",
            config.to_str().unwrap(),
            "--runs-dir",
            runs.to_str().unwrap(),
        ])
        .output()
        .unwrap()
}

#[test]
fn whole_experiment_survives_being_killed() {
    let tmp = tempfile::tempdir().unwrap();
    let config = common::write_tiny_experiment(tmp.path(), "e2e", 1, "");

    let clean = tmp.path().join("clean");
    let started = Instant::now();
    let o = run(&config, &clean);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let uninterrupted = started.elapsed();
    let run_dir = clean.join("e2e");
    for f in [
        "comparison.json",
        "manifest.json",
        "report/report.md",
        "report/report.html",
        "per_question.parquet",
        "per_question.csv",
    ] {
        assert!(run_dir.join(f).is_file(), "{f} missing");
    }
    assert!(run_dir
        .join("adapters/tiny/tiny-llama/n4/s1/adapter/adapter_model.safetensors")
        .is_file());
    assert!(run_dir
        .join("answers/tiny/tiny-llama/n0/answers.parquet")
        .is_file());
    let reference = std::fs::read_to_string(run_dir.join("comparison.json")).unwrap();
    let cmp: serde_json::Value = serde_json::from_str(&reference).unwrap();
    let entries = cmp["comparisons"].as_array().unwrap();
    assert!(
        entries.iter().any(|c| c["metric"] == "token_f1"
            && c["n"] == 4
            && c["seeds"].as_array().unwrap().len() == 2),
        "{reference}"
    );

    // A second run does nothing.
    let o = run(&config, &clean);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("0 steps ran"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // Killed at several moments, then rerun until done: the same comparison.
    let killed = tmp.path().join("killed");
    let total = uninterrupted.as_secs_f64();
    for fraction in [0.1, 0.35, 0.6, 0.85] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_finefail"))
            .args([
                "run",
                config.to_str().unwrap(),
                "--runs-dir",
                killed.to_str().unwrap(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_secs_f64(total * fraction));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
    }
    let o = run(&config, &killed);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let resumed = std::fs::read_to_string(killed.join("e2e/comparison.json")).unwrap();
    assert_eq!(
        resumed, reference,
        "a killed and resumed run must give the same comparison.json"
    );
}

#[test]
fn an_unreachable_judge_stops_the_run_with_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let judge = "[judge]\nurl = \"http://127.0.0.1:9\"\nmodel = \"judge-model\"\nkey_env = \"FINEFAIL_TEST_JUDGE_KEY\"\ntimeout_s = 2\nmax_retries = 0\n";
    let config = common::write_tiny_experiment(tmp.path(), "judged", 1, judge);
    let runs = tmp.path().join("runs");
    let o = Command::new(env!("CARGO_BIN_EXE_finefail"))
        .args([
            "run",
            config.to_str().unwrap(),
            "--runs-dir",
            runs.to_str().unwrap(),
        ])
        .env("FINEFAIL_TEST_JUDGE_KEY", "not-a-real-key")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("127.0.0.1:9"),
        "the error names the endpoint: {err}"
    );
    assert!(
        !err.contains("not-a-real-key"),
        "the key is never shown: {err}"
    );
    // Everything before the judge finished and stays cached.
    assert!(runs
        .join("judged/answers/tiny/tiny-llama/n0/answers.parquet")
        .is_file());
}
