//! The tiny experiment through `--executor slurm` when the cluster misbehaves, on a real Slurm
//! (scripts/slurm-local.sh start): a step that fails takes its dependants with it (Slurm cancels
//! them: `--kill-on-invalid-dep=yes`) and the runner names the failed step and its log; a drained
//! node is said at once instead of waited on in silence. Skipped (prints "skipped: …") when no
//! Slurm controller answers `sinfo`. Its own test binary, so no other Slurm test runs while the
//! node is drained.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn slurm_up() -> bool {
    Command::new("sinfo")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Job ids recorded under a run's `steps/` (`slurm.json`).
fn recorded_jobs(run_dir: &Path) -> Vec<String> {
    std::fs::read_dir(run_dir.join("steps"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("slurm.json")).ok())
        .filter_map(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .filter_map(|v| v["job_id"].as_str().map(str::to_string))
        .collect()
}

/// `id → (state, reason)` for `ids`, from `squeue --states=all`.
fn states(ids: &[String]) -> Vec<(String, String, String)> {
    let o = Command::new("squeue")
        .args(["--noheader", "--states=all", "--format=%i|%T|%r", "--jobs"])
        .arg(ids.join(","))
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, '|');
            Some((
                it.next()?.trim().to_string(),
                it.next()?.trim().to_string(),
                it.next()?.trim().to_string(),
            ))
        })
        .collect()
}

/// Cancels the run's jobs and resumes the node when the test ends, whatever happened.
struct Cleanup {
    run_dir: PathBuf,
    resume_node: bool,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let ids = recorded_jobs(&self.run_dir);
        if !ids.is_empty() {
            let _ = Command::new("scancel").args(&ids).output();
        }
        if self.resume_node {
            let _ = Command::new("scontrol")
                .args(["update", "nodename=localhost", "state=resume"])
                .output();
        }
    }
}

#[test]
fn a_failed_step_cancels_its_dependants_and_a_drained_node_is_said() {
    if !slurm_up() {
        eprintln!("skipped: no Slurm controller answers `sinfo` (start one with scripts/slurm-local.sh start)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let config = common::write_tiny_experiment(
        tmp.path(),
        "faults",
        1,
        "[slurm]\ncpus_per_task = 1\ntime = \"00:10:00\"\n",
    );
    let cfg = config.to_str().unwrap();

    // 1. A malformed dataset line: the prepare job fails (exit 2), everything behind it is
    //    cancelled by Slurm, and the runner names prepare and its log.
    let data = tmp.path().join("tiny.jsonl");
    let mut text = std::fs::read_to_string(&data).unwrap();
    text.push_str("\n{not json\n");
    std::fs::write(&data, text).unwrap();
    let runs = tmp.path().join("runs");
    let run_dir = runs.join("faults");
    let _cleanup = Cleanup {
        run_dir: run_dir.clone(),
        resume_node: false,
    };
    let o = Command::new(env!("CARGO_BIN_EXE_finefail"))
        .args(["run", cfg, "--executor", "slurm", "--runs-dir"])
        .arg(&runs)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("step `prepare/tiny` failed") && err.contains("log "),
        "{err}"
    );
    let ids = recorded_jobs(&run_dir);
    assert!(ids.len() > 1, "{ids:?}");
    // Nothing of the study is left pending forever.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = states(&ids);
        let stuck: Vec<_> = s
            .iter()
            .filter(|(_, state, _)| state == "PENDING")
            .collect();
        if stuck.is_empty() {
            assert!(
                s.iter().any(|(_, state, reason)| state == "CANCELLED"
                    && reason.contains("DependencyNeverSatisfied")),
                "{s:?}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "still pending: {stuck:?}");
        std::thread::sleep(Duration::from_millis(200));
    }

    // 2. The same study on a drained node: the runner says so at once.
    common::write_tiny_experiment(
        tmp.path(),
        "faults",
        1,
        "[slurm]\ncpus_per_task = 1\ntime = \"00:10:00\"\n",
    );
    let runs = tmp.path().join("runs-drained");
    let _drained = Cleanup {
        run_dir: runs.join("faults"),
        resume_node: true,
    };
    let drain = Command::new("scontrol")
        .args([
            "update",
            "nodename=localhost",
            "state=drain",
            "reason=finefail-test",
        ])
        .output()
        .unwrap();
    if !drain.status.success() {
        eprintln!(
            "skipped (drain part): scontrol could not drain the node: {}",
            String::from_utf8_lossy(&drain.stderr)
        );
        return;
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_finefail"))
        .args(["run", cfg, "--executor", "slurm", "--runs-dir"])
        .arg(&runs)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    let warned = loop {
        match rx.recv_timeout(Duration::from_millis(500)) {
            Ok(line) if line.starts_with("warning: nothing runs and Slurm cannot start") => {
                break Some(line)
            }
            Ok(line) => seen.push(line),
            Err(_) if Instant::now() > deadline => break None,
            Err(_) => {}
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    let line =
        warned.unwrap_or_else(|| panic!("no stall warning; stderr so far:\n{}", seen.join("\n")));
    assert!(
        line.contains("DRAIN") || line.contains("ReqNodeNotAvail"),
        "{line}"
    );
}
