//! The tiny experiment through `--executor slurm` on a real Slurm (scripts/slurm-local.sh start):
//! the comparison must equal the local executor's; a running job cancelled with `scancel` and a
//! rerun give the same result; a partition that does not exist is one line and exit 2. Skipped
//! (prints "skipped: …") when no Slurm controller answers `sinfo`.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn finefail(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_finefail"))
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Job ids and states of this test's jobs (`finefail:` names) that squeue lists as RUNNING.
fn running_jobs() -> Vec<(String, String)> {
    let o = Command::new("squeue")
        .args(["--noheader", "--states=RUNNING", "--format=%i|%j"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.split_once('|'))
        .filter(|(_, name)| {
            name.starts_with("finefail:finetune/") || name.starts_with("finefail:answer/")
        })
        .map(|(id, name)| (id.trim().to_string(), name.trim().to_string()))
        .collect()
}

/// Cancels every job recorded under a run's `steps/` when the test ends (its files are deleted).
struct CancelOnDrop(PathBuf);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let ids: Vec<String> = std::fs::read_dir(&self.0)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.path().join("slurm.json")).ok())
            .filter_map(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .filter_map(|v| v["job_id"].as_str().map(str::to_string))
            .collect();
        if !ids.is_empty() {
            let _ = Command::new("scancel").args(&ids).output();
        }
    }
}

#[test]
fn slurm_executor_matches_local_and_survives_scancel() {
    if !Command::new("sinfo")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        eprintln!("skipped: no Slurm controller answers `sinfo` (start one with scripts/slurm-local.sh start)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let config = common::write_tiny_experiment(
        tmp.path(),
        "slurm",
        60,
        "[slurm]\ncpus_per_task = 1\ntime = \"00:10:00\"\n",
    );
    let cfg = config.to_str().unwrap();

    let local = tmp.path().join("local");
    let o = finefail(&["run", cfg, "--runs-dir", local.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let reference = std::fs::read_to_string(local.join("slurm/comparison.json")).unwrap();

    // A partition that does not exist: one line, exit 2, nothing submitted.
    let bad = tmp.path().join("bad");
    let o = finefail(&[
        "run",
        cfg,
        "--executor",
        "slurm",
        "--partition",
        "nope",
        "--runs-dir",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(
        err.contains("Invalid partition") && err.trim().lines().count() == 1,
        "{err}"
    );

    // Through Slurm: submit, cancel a running GPU-kind job, rerun until done.
    let runs = tmp.path().join("slurm");
    let _cleanup = CancelOnDrop(runs.join("slurm/steps"));
    let started = Instant::now();
    let o = finefail(&[
        "run",
        cfg,
        "--executor",
        "slurm",
        "--no-wait",
        "--runs-dir",
        runs.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let submitted = String::from_utf8_lossy(&o.stderr)
        .lines()
        .filter(|l| l.starts_with("submitted "))
        .count();
    let plan = text(&finefail(&[
        "run",
        cfg,
        "--plan",
        "--runs-dir",
        runs.to_str().unwrap(),
    ]));
    assert!(
        plan.contains(&format!("({submitted} steps:")),
        "every step is submitted once:\n{}\n{plan}",
        text(&o)
    );
    let mut cancelled = None;
    while started.elapsed() < Duration::from_secs(120) && cancelled.is_none() {
        if let Some((id, name)) = running_jobs().into_iter().next() {
            assert!(Command::new("scancel").arg(&id).status().unwrap().success());
            cancelled = Some(name);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let cancelled = cancelled.expect("no finetune/answer job was seen running within 120 s");
    // --status reports the cancelled step as failed — or done, when the job had written its
    // output just before the signal (a step renames its output into place as its last act).
    std::thread::sleep(Duration::from_secs(2));
    let o = finefail(&["run", cfg, "--status", "--runs-dir", runs.to_str().unwrap()]);
    let step = cancelled.trim_start_matches("finefail:");
    let line = text(&o)
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(step))
        .unwrap_or_default()
        .to_string();
    let killed_before_output = line.starts_with("failed");
    assert!(
        killed_before_output || line.starts_with("done"),
        "{cancelled}:\n{}",
        text(&o)
    );
    // The rerun submits only what is missing and waits for everything.
    let o = finefail(&[
        "run",
        cfg,
        "--executor",
        "slurm",
        "--runs-dir",
        runs.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let resubmitted = String::from_utf8_lossy(&o.stderr).contains(&format!("submitted {step} "));
    assert_eq!(resubmitted, killed_before_output, "{}", text(&o));
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("submitted prepare/"),
        "finished steps are not resubmitted:\n{}",
        text(&o)
    );
    let resumed = std::fs::read_to_string(runs.join("slurm/comparison.json")).unwrap();
    assert_eq!(
        resumed, reference,
        "Slurm's comparison.json must equal the local executor's"
    );
    let o = finefail(&["run", cfg, "--status", "--runs-dir", runs.to_str().unwrap()]);
    let status = text(&o);
    assert!(
        status
            .lines()
            .filter(|l| !l.starts_with(' '))
            .all(|l| l.starts_with("done ")),
        "{status}"
    );
    eprintln!("slurm e2e: {:.1} s through Slurm (cancelled {cancelled} while running; killed before its output: {killed_before_output})", started.elapsed().as_secs_f64());
}
