//! Ctrl-C and SIGTERM on `finefail run` (issue 26): the running step stops at a safe point — a
//! fine-tune after its optimizer step, checkpointed; answering after its batch — its record says
//! `interrupted`, one line says what finished and that rerunning continues, the exit code is 128 +
//! the signal, and the rerun ends with the results of a run that never stopped. A second Ctrl-C
//! exits at once. The engine path is tested through the stop flag; the signals with real processes
//! on the tiny experiment.

mod common;

use finefail_core::{RunLayout, StopFlag};
use finefail_runner::engine::{execute, read_record, record_path, Event, StepState};
use finefail_runner::steps::LocalSteps;
use finefail_runner::{load, plan, RunnerError};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const FINETUNE: &str = "finetune/tiny/tiny-llama/n4/s0";

/// Runs the tiny experiment (one seed) into `runs`, requesting a stop through the flag when
/// `when` says so of a progress report; returns the run's result.
fn execute_tiny(
    config: &Path,
    runs: &Path,
    when: impl Fn(&str, &finefail_runner::StepProgress) -> bool + Send,
) -> finefail_runner::Result<finefail_runner::engine::RunSummary> {
    let cfg = load(config, &["sweep.seeds=[0]".to_string()]).unwrap();
    let p = plan(&cfg, runs);
    let mut steps = LocalSteps::new(&cfg);
    steps.stop = StopFlag::new();
    let flag = steps.stop.clone();
    execute(&p, &steps, None, &mut move |e| {
        if let Event::Progress { step, progress } = e {
            if when(&step.id, &progress) {
                flag.request();
            }
        }
    })
}

fn adapter_bytes(run: &Path) -> Vec<u8> {
    let dir = RunLayout::new(run).fine_tune("tiny", "tiny-llama", 4, 0);
    std::fs::read(dir.join("adapter/adapter_model.safetensors")).unwrap()
}

fn answers(run: &Path, arm: &str) -> Vec<(String, String)> {
    let dir = RunLayout::new(run).answers(&arm.parse().unwrap());
    finefail_data::tables::read_answers(&dir.join("answers.parquet"))
        .unwrap()
        .into_iter()
        .map(|a| (a.question_id, a.answer))
        .collect()
}

/// Through the stop flag: answering stopped after its first batch and a fine-tune stopped after
/// its first optimizer step are recorded `interrupted` with where they stopped; each run ends with
/// the one line; the rerun finishes with the adapter, answers and comparison of a run that never
/// stopped. (Plan order: prepare, retrieve, answer and score n0, then the fine-tune.)
#[test]
fn a_stopped_run_resumes_to_the_results_of_an_uninterrupted_one() {
    let tmp = tempfile::tempdir().unwrap();
    let config = common::write_tiny_experiment(tmp.path(), "stop", 1, "");
    let whole = tmp.path().join("whole");
    execute_tiny(&config, &whole, |_, _| false).unwrap();

    let runs = tmp.path().join("runs");
    let run = runs.join("stop");
    // Answering stops after its first batch of 4 (of 6 questions).
    let arm = "answer/tiny/tiny-llama/n0";
    let err = execute_tiny(&config, &runs, |id, p| {
        id == arm && p.unit == "questions" && p.done == 4
    })
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "interrupted: 2 steps done this run, {arm} stopped at 4/6 questions (answered batches \
             kept) — rerun the same command to continue"
        )
    );
    assert!(matches!(err, RunnerError::Interrupted(_)), "{err:?}");
    assert_eq!(
        read_record(&record_path(&run, arm)).unwrap().state,
        StepState::Interrupted
    );

    // The rerun answers the rest, scores, and the fine-tune stops after its first step of 2.
    let err = execute_tiny(&config, &runs, |id, p| {
        id == FINETUNE && p.unit == "steps" && p.done == 1
    })
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "interrupted: 2 steps done this run, {FINETUNE} stopped at step 1/2 (checkpoint \
             kept) — rerun the same command to continue"
        )
    );
    let rec = read_record(&record_path(&run, FINETUNE)).unwrap();
    assert_eq!(rec.state, StepState::Interrupted);
    assert_eq!(
        rec.error.as_deref(),
        Some("stopped at step 1/2 (checkpoint kept)")
    );

    let summary = execute_tiny(&config, &runs, |_, _| false).unwrap();
    assert!(summary.ran.iter().any(|s| s == FINETUNE));
    assert!(!summary.ran.iter().any(|s| s == arm));
    assert_eq!(adapter_bytes(&run), adapter_bytes(&whole.join("stop")));
    for arm in ["tiny/tiny-llama/n0", "tiny/tiny-llama/n4/s0"] {
        assert_eq!(
            answers(&run, arm),
            answers(&whole.join("stop"), arm),
            "{arm}"
        );
    }
    let comparison = |r: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(RunLayout::new(r).comparison()).unwrap()).unwrap()
    };
    assert_eq!(comparison(&run), comparison(&whole.join("stop")));
}

/// A `finefail run` child process whose stderr lines arrive on a channel.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(config: &Path, runs: &Path, extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_finefail"))
            .arg("run")
            .arg(config)
            .arg("--runs-dir")
            .arg(runs)
            .args(["--set", "sweep.seeds=[0]"])
            .args(extra)
            .env("FINEFAIL_PROGRESS_INTERVAL_MS", "20")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run finefail");
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits (at most `secs`) for a stderr line that `want` accepts; returns it.
    fn wait_for(&mut self, secs: u64, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if want(&line) {
                        return line;
                    }
                }
                Err(_) => break,
            }
        }
        let _ = self.child.kill();
        panic!("no such line within {secs} s:\n{}", self.seen.join("\n"));
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, sig) }, 0);
    }

    /// Waits (at most `secs`) for the exit; returns the code and the rest of stderr.
    fn finish(mut self, secs: u64) -> (Option<i32>, Vec<String>) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "still running {secs} s after the signal:\n{}",
                    self.seen.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        self.seen.extend(self.lines.iter());
        (status.code(), self.seen)
    }
}

/// `N/M steps` in a plain progress line of the fine-tune: N.
fn steps_done(line: &str) -> Option<usize> {
    let rest = line.strip_prefix(&format!("{FINETUNE}: "))?;
    let (count, _) = rest.split_once(" steps")?;
    count.split_once('/')?.0.parse().ok()
}

fn scratch_checkpoints(run: &Path) -> Vec<PathBuf> {
    let parent = RunLayout::new(run)
        .fine_tune("tiny", "tiny-llama", 4, 0)
        .parent()
        .unwrap()
        .to_path_buf();
    let mut out = Vec::new();
    for e in std::fs::read_dir(parent).unwrap().flatten() {
        if e.file_name().to_string_lossy().starts_with(".s0.partial-") {
            out.extend(
                std::fs::read_dir(e.path().join("checkpoints"))
                    .unwrap()
                    .flatten()
                    .map(|c| c.path()),
            );
        }
    }
    out
}

/// Real signals: SIGINT in the middle of a long fine-tune exits 130 with the one line, the
/// stopped step checkpointed and `interrupted` in `--status`; the rerun continues from that
/// step, and SIGTERM stops it the same way with 143.
#[test]
fn sigint_and_sigterm_stop_a_fine_tune_at_a_checkpoint_and_the_rerun_continues() {
    let tmp = tempfile::tempdir().unwrap();
    let config = common::write_tiny_experiment(tmp.path(), "sig", 1, "");
    let runs = tmp.path().join("runs");
    let run = runs.join("sig");
    // 2 steps an epoch: thousands of steps, with no scheduled checkpoint among the first ones.
    let long = [
        "--until",
        "finetune",
        "--set",
        "train.epochs=5000",
        "--set",
        "train.checkpoint_every=100000",
    ];
    let mut r = Running::start(&config, &runs, &long);
    r.wait_for(300, |l| steps_done(l).is_some_and(|n| n >= 2));
    r.signal(libc::SIGINT);
    let (code, lines) = r.finish(120);
    let last = lines.last().cloned().unwrap_or_default();
    assert_eq!(code, Some(130), "{}", lines.join("\n"));
    assert!(
        lines.iter().any(|l| l.starts_with("stopping: ")),
        "no notice: {}",
        lines.join("\n")
    );
    let prefix = format!("interrupted: 2 steps done this run, {FINETUNE} stopped at step ");
    let at: usize = last
        .strip_prefix(&prefix)
        .and_then(|r| r.split_once('/'))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("{last}"));
    assert!(
        last.ends_with("/10000 (checkpoint kept) — rerun the same command to continue"),
        "{last}"
    );
    assert!(at >= 2, "{last}");
    let kept = scratch_checkpoints(&run);
    assert!(
        kept.iter().any(|p| p.ends_with(format!("step-{at}"))),
        "{kept:?}"
    );
    let status = Command::new(env!("CARGO_BIN_EXE_finefail"))
        .arg("run")
        .arg(&config)
        .args(["--runs-dir", runs.to_str().unwrap(), "--status"])
        .args(["--set", "sweep.seeds=[0]"])
        .args(&long[2..])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&status.stdout);
    assert!(
        out.lines()
            .any(|l| l.starts_with("interrupted ") && l.contains(FINETUNE)),
        "{out}"
    );

    // The rerun starts where the first one stopped; SIGTERM stops it too.
    let mut r = Running::start(&config, &runs, &long);
    let first = r.wait_for(300, |l| steps_done(l).is_some());
    assert!(
        steps_done(&first).unwrap() >= at,
        "{first} (stopped at {at})"
    );
    r.signal(libc::SIGTERM);
    let (code, lines) = r.finish(120);
    assert_eq!(code, Some(143), "{}", lines.join("\n"));
    let last = lines.last().cloned().unwrap_or_default();
    assert!(
        last.starts_with(&format!(
            "interrupted: 0 steps done this run, {FINETUNE} stopped at step "
        )),
        "{last}"
    );
}

/// While a step cannot stop yet (an API answer waiting on an endpoint that never answers), the
/// first Ctrl-C only announces the stop; a second one exits at once, with 130.
#[test]
fn a_second_ctrl_c_exits_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let extra = format!(
        "[[models]]\nname = \"api\"\nkind = \"api\"\nurl = \"http://{}/v1\"\nmodel = \"m\"\ntimeout_s = 300\nmax_retries = 0\n",
        listener.local_addr().unwrap()
    );
    let config = common::write_tiny_experiment(tmp.path(), "twice", 1, &extra);
    let runs = tmp.path().join("runs");
    let mut r = Running::start(&config, &runs, &[]);
    let (tx, accepted) = mpsc::channel();
    std::thread::spawn(move || {
        let c = listener.accept();
        let _ = tx.send(());
        std::thread::sleep(Duration::from_secs(600));
        drop(c);
    });
    accepted
        .recv_timeout(Duration::from_secs(300))
        .expect("the run never called the API model");
    r.signal(libc::SIGINT);
    r.wait_for(30, |l| l.starts_with("stopping: "));
    let asked = Instant::now();
    r.signal(libc::SIGINT);
    let (code, lines) = r.finish(30);
    assert_eq!(code, Some(130), "{}", lines.join("\n"));
    assert!(asked.elapsed() < Duration::from_secs(10));
    assert!(
        !lines.iter().any(|l| l.starts_with("interrupted: ")),
        "{}",
        lines.join("\n")
    );
}
