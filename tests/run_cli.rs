//! End-to-end tests of `finefail run --plan`: config validation and the step graph.

use std::process::{Command, Output};

fn finefail(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_finefail"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run finefail")
}

#[test]
fn shipped_configs_plan_cleanly() {
    for config in [
        "experiments/default.toml",
        "experiments/langtest.toml",
        "experiments/paper.toml",
    ] {
        let o = finefail(&["run", config, "--plan", "--runs-dir", "/nonexistent-runs"]);
        assert!(
            o.status.success(),
            "{config}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains("compare") && out.contains("report"), "{out}");
    }
    let o = finefail(&[
        "run",
        "experiments/paper.toml",
        "--plan",
        "--runs-dir",
        "/nonexistent-runs",
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    // 3 datasets × 2 models × 3 sizes × 3 seeds fine-tunes.
    assert!(out.contains("finetune (54)"), "{out}");
    assert!(
        out.contains("answer/qasper/llama-2-7b-chat/n1000/s2"),
        "{out}"
    );
}

#[test]
fn config_errors_are_one_line_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[datasets]]\nname = \"d\"\nformat = \"jsonl\"\ninput = \"x\"\n[[models]]\nname = \"m\"\npath = \"p\"\n[sweep]\nsizes = [0, 10]\nseedz = [0]\n").unwrap();
    let o = finefail(&["run", bad.to_str().unwrap(), "--plan"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("unknown key `sweep.seedz`; did you mean `sweep.seeds`?"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");

    let o = finefail(&[
        "run",
        "experiments/default.toml",
        "--plan",
        "--set",
        "sweep.sizes=[50]",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("must include 0"));

    let o = finefail(&[
        "run",
        "experiments/default.toml",
        "--plan",
        "--set",
        "datasets.pubmedqa.test_size=0",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no test questions"));

    let o = finefail(&["run", "/nonexistent/x.toml", "--plan"]);
    assert_eq!(o.status.code(), Some(2));
}
