//! `finefail run --plan` says what a run will do — each step `cached` or `to run`, and the time
//! of what runs from recorded wall times (this folder's, else per-kind rates here or in a sibling
//! run folder), or no estimate when nothing was recorded — and a run's count of steps to run,
//! printed before the first step, is the count it works through.

mod common;

use std::path::Path;
use std::process::{Command, Output};

/// `finefail ARGS CONFIG --runs-dir RUNS`, stderr piped (no terminal).
fn finefail(args: &[&str], config: &Path, runs: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_finefail"))
        .args(args)
        .arg(config)
        .arg("--runs-dir")
        .arg(runs)
        .output()
        .expect("run finefail")
}

/// Writes a done record with `wall_s` for step `id` into `run_dir` (what a run would have left).
fn fabricate(run_dir: &Path, id: &str, kind: &str, wall_s: f64) {
    let dir = run_dir
        .join("steps")
        .join(id.replace('/', "__").replace('@', "_at_"));
    std::fs::create_dir_all(&dir).unwrap();
    let rec = serde_json::json!({
        "id": id, "kind": kind, "state": "done", "input_hash": "fabricated",
        "output_hash": "fabricated", "wall_s": wall_s, "error": null,
    });
    std::fs::write(dir.join("state.json"), rec.to_string()).unwrap();
}

/// Whether a line of a plan is a step's: `    cached|to run|not run …`.
fn is_step(l: &str) -> bool {
    let t = l.trim_start();
    l.starts_with("    ")
        && ["cached ", "to run ", "not run "]
            .iter()
            .any(|m| t.starts_with(m))
}

/// The step line of `id` in a plan.
fn line<'a>(out: &'a str, id: &str) -> &'a str {
    out.lines()
        .find(|l| is_step(l) && l.split_whitespace().any(|w| w == id))
        .unwrap_or_else(|| panic!("no line for {id}: {out}"))
}

#[test]
fn plan_marks_steps_and_estimates_what_runs_from_records() {
    let tmp = tempfile::tempdir().unwrap();
    let config = common::write_tiny_experiment(tmp.path(), "plan", 1, "");
    let runs = tmp.path().join("runs");
    // Nothing recorded anywhere: every step to run, no estimate.
    let o = finefail(&["run", "--plan"], &config, &runs);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    let total = out.lines().last().unwrap();
    assert!(
        total.starts_with("to run: ")
            && total.ends_with(" steps, no estimate (nothing recorded yet)"),
        "{out}"
    );
    assert!(
        line(&out, "prepare/tiny")
            .trim_start()
            .starts_with("to run "),
        "{out}"
    );

    // Prepare runs for real; an answer step ran before under other inputs (fabricated, 12 s);
    // a sibling run folder fine-tuned N = 4 in 40 s.
    let o = finefail(&["run", "--until", "prepare"], &config, &runs);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    fabricate(
        &runs.join("plan"),
        "answer/tiny/tiny-llama/n0",
        "answer",
        12.0,
    );
    fabricate(
        &runs.join("other"),
        "finetune/tiny/tiny-llama/n4/s0",
        "finetune",
        40.0,
    );
    let o = finefail(&["run", "--plan"], &config, &runs);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    let steps = out.lines().filter(|l| is_step(l)).count();
    assert!(
        out.lines()
            .next()
            .unwrap()
            .ends_with(&format!("({steps} steps: {} to run, 1 cached)", steps - 1)),
        "{out}"
    );
    let prepare = line(&out, "prepare/tiny");
    assert!(prepare.trim_start().starts_with("cached "), "{out}");
    let answer = line(&out, "answer/tiny/tiny-llama/n0");
    assert!(
        answer.trim_start().starts_with("to run   ~12 s "),
        "{answer}"
    );
    assert!(
        answer.contains("answer/tiny/tiny-llama/n0  (stale: "),
        "{answer}"
    );
    // The other answers: the rate per question measured here (same test set: 12 s each).
    let tuned = line(&out, "answer/tiny/tiny-llama/n4/s1");
    assert!(
        tuned.contains("~12 s ") && tuned.ends_with("[answer rate]"),
        "{tuned}"
    );
    // Fine-tunes: the sibling's rate per training example (N = 4 both: 40 s each).
    for seed in [0, 1] {
        let ft = line(&out, &format!("finetune/tiny/tiny-llama/n4/s{seed}"));
        assert!(
            ft.contains("~40 s ") && ft.ends_with("[finetune rate]"),
            "{ft}"
        );
    }
    assert!(line(&out, "retrieve/tiny").contains(" ?  "), "{out}");
    let total = out.lines().last().unwrap();
    let expected = format!(
        "steps, ≥2 min (1 from this folder's records, 2 from finetune rates measured in {}, 2 \
         from answer rates measured in this folder, ",
        runs.join("other").display()
    );
    assert!(
        total.starts_with("to run: ") && total.contains(&expected),
        "{total}"
    );
    assert!(
        total.ends_with(" with no estimate: no retrieve, score, compare, report recorded yet)"),
        "{total}"
    );
    // --until finetune: only what that run would do is timed.
    let o = finefail(&["run", "--plan", "--until", "finetune"], &config, &runs);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        line(&out, "report").trim_start().starts_with("not run"),
        "{out}"
    );
    let total = out.lines().last().unwrap();
    assert!(
        total.starts_with("to run (--until finetune): 3 steps, ≥80 s (2 from finetune rates"),
        "{total}"
    );
}

/// A rerun step that writes the same output as before leaves the step reading it current: that
/// step was counted to run before the first step, and it still counts (a `skip` line), so the
/// count printed first is the count worked through and the total never shrinks mid-run.
#[test]
fn the_count_printed_before_the_first_step_is_the_count_worked_through() {
    let tmp = tempfile::tempdir().unwrap();
    let config = common::write_tiny_experiment(tmp.path(), "count", 1, "");
    let runs = tmp.path().join("runs");
    let o = finefail(&["run", "--until", "retrieve"], &config, &runs);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // prepare/tiny made by other code: it reruns (to the same tables), retrieve is counted to run.
    let record = runs.join("count/steps/prepare__tiny/state.json");
    let mut rec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&record).unwrap()).unwrap();
    rec["code_version"] = "0.0.1+0ld0c0de".into();
    std::fs::write(&record, rec.to_string()).unwrap();
    let o = finefail(&["run", "--until", "retrieve"], &config, &runs);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("2 steps to run, 0 cached"), "{err}");
    let started = err.lines().filter(|l| l.starts_with("start ")).count();
    let skipped = err.lines().filter(|l| l.starts_with("skip ")).count();
    assert_eq!((started, skipped), (1, 1), "{err}");
    assert!(err.contains("start prepare/tiny (step 1/2)"), "{err}");
    assert!(err.contains("skip  retrieve/tiny (step 2/2: "), "{err}");
    assert!(
        err.contains("1 steps ran, 1 cached (1 of them current once what they read reran)"),
        "{err}"
    );
}
