//! MLflow tracking against a scripted server (`fake_mlflow`): a toy study (a fine-tune, an arm's
//! scores, the comparison, the report) run by the engine with a [`Tracker`] hearing its events,
//! as `finefail run` does. Checked: one experiment, created once; the fine-tune's run with its
//! params and loss curves; the arm's metric means; the comparisons as metrics with the verdicts as
//! tags and the report's artifacts; nothing logged twice on a rerun of cached steps; and a server
//! that refuses connections, answers 500 or never answers costs one warning and no error.

mod fake_mlflow;

use fake_mlflow::{Fake, Mode};
use finefail_runner::engine::{execute, StepWork};
use finefail_runner::plan::{Plan, Step};
use finefail_runner::progress::ProgressSink;
use finefail_runner::tracking::Tracker;
use finefail_runner::{Config, Result, StepKind};
use finefail_score::{write_scores, Metric, ScoreRow};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

/// Writes each step's output in the formats the real steps use.
struct Toy;

impl StepWork for Toy {
    fn config_slice(&self, _step: &Step) -> Result<serde_json::Value> {
        Ok(json!({}))
    }
    fn run(&self, step: &Step, _run_dir: &Path, scratch: &Path, _p: ProgressSink) -> Result<()> {
        let w = |rel: &str, text: String| {
            let path = scratch.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        match step.kind {
            StepKind::Finetune => {
                let mut rows: Vec<String> = (1..=3)
                    .map(|s| {
                        json!({"step": s, "total_steps": 3, "epoch": 0, "loss": 2.0 / s as f64,
                            "lr": 1e-4, "grad_norm": 0.5, "tokens": 10, "tokens_per_s": 100.0,
                            "elapsed_s": 0.1, "kind": "train"})
                        .to_string()
                    })
                    .collect();
                rows.push(
                    json!({"kind": "val", "step": 3, "epoch": 0, "val_loss": 1.25, "best": true})
                        .to_string(),
                );
                w("metrics.jsonl", rows.join("\n") + "\n");
                w(
                    "train_summary.json",
                    json!({"examples": 4, "steps": 3, "final_loss": 0.67, "best_val_loss": 1.25,
                        "adapter_sha256": "abc", "seed": 0, "size": 4})
                    .to_string(),
                );
            }
            StepKind::Score => {
                let row = |q: &str, v: f64| ScoreRow {
                    arm: "d/m/n0".into(),
                    question_id: q.into(),
                    metric: Metric::TokenF1,
                    value: Some(v),
                    repeat: 0,
                    judge: None,
                    error: None,
                };
                std::fs::create_dir_all(scratch).unwrap();
                write_scores(
                    &scratch.join("scores.parquet"),
                    &[row("q1", 0.25), row("q2", 0.75)],
                )
                .unwrap();
            }
            StepKind::Compare => w(
                "comparison.json",
                json!({"config_hash": "h", "alpha": 0.05, "comparisons": [
                    {"dataset": "d", "model": "m", "n": 4, "kind": "vs_base", "reference_n": 0,
                     "context": "retrieved", "metric": "token_f1", "primary": true,
                     "base_mean": 0.5, "ft_mean": 0.6, "diff": 0.1, "ci_low": -0.1,
                     "ci_high": 0.3, "p": 0.2, "p_holm": 0.4, "verdict": "inconclusive"},
                    {"dataset": "d", "model": "m", "n": 4, "kind": "vs_base", "reference_n": 0,
                     "context": "retrieved", "metric": "answer_recall", "primary": false,
                     "base_mean": 0.5, "ft_mean": 0.6, "diff": 0.1, "ci_low": null,
                     "ci_high": null, "p": 0.2, "p_holm": null, "verdict": null}
                ]})
                .to_string(),
            ),
            _ => {
                w("report.html", "<html></html>".into());
                w("plots/forest.png", "png".into());
            }
        }
        Ok(())
    }
}

fn plan(dir: &Path) -> Plan {
    let step = |id: &str, kind, deps: &[&str], out: &str| Step {
        id: id.into(),
        kind,
        deps: deps.iter().map(|d| d.to_string()).collect(),
        output: out.into(),
    };
    Plan {
        name: "toy-study".into(),
        run_dir: dir.join("runs/toy-study"),
        steps: vec![
            step(
                "finetune/d/m/n4/s0",
                StepKind::Finetune,
                &[],
                "adapters/d/m/n4/s0",
            ),
            step("score/d/m/n0", StepKind::Score, &[], "scores/d/m/n0"),
            step(
                "compare",
                StepKind::Compare,
                &["score/d/m/n0"],
                "comparison.json",
            ),
            step("report", StepKind::Report, &["compare"], "report"),
        ],
        warnings: vec![],
    }
}

fn config(uri: &str) -> Config {
    let mut c = Config::default();
    c.tracking.mlflow_uri = Some(uri.to_string());
    c
}

/// Runs the toy study with a tracker on `uri`; returns the tracker's warning.
fn run(dir: &Path, uri: &str, timeout: Duration) -> Option<String> {
    let p = plan(dir);
    let mut tracker = Tracker::with_timeouts(&config(uri), &p, timeout, timeout);
    execute(&p, &Toy, None, &mut |e| tracker.event(&e)).unwrap();
    tracker.warning().map(str::to_string)
}

fn param(batch: &serde_json::Value, key: &str) -> Option<String> {
    batch["params"]
        .as_array()?
        .iter()
        .find(|p| p["key"] == key)
        .and_then(|p| p["value"].as_str().map(str::to_string))
}

#[test]
fn a_study_is_logged_once_under_one_experiment() {
    let tmp = tempfile::tempdir().unwrap();
    let fake = Fake::start(Mode::Ok);
    assert_eq!(run(tmp.path(), &fake.uri(), Duration::from_secs(5)), None);

    // One experiment named after the run, created once.
    let created = fake.calls("experiments/create");
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].json()["name"], "toy-study");
    // One MLflow run per fine-tune, arm and comparison; each finished.
    let runs: Vec<String> = fake
        .calls("runs/create")
        .iter()
        .map(|r| r.json()["run_name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(runs, ["finetune/d/m/n4/s0", "score/d/m/n0", "compare"]);
    assert_eq!(fake.calls("runs/update").len(), 3);
    for u in fake.calls("runs/update") {
        assert_eq!(u.json()["status"], "FINISHED");
    }

    let batches: Vec<serde_json::Value> = fake
        .calls("runs/log-batch")
        .iter()
        .map(|r| r.json())
        .collect();
    let of_run = |id: &str| -> Vec<&serde_json::Value> {
        batches.iter().filter(|b| b["run_id"] == id).collect()
    };
    // The fine-tune: its settings and parts as params, its loss curves as metrics per step.
    let ft = of_run("run1");
    let params = ft.iter().find(|b| b.get("params").is_some()).unwrap();
    assert_eq!(param(params, "lora.r").as_deref(), Some("16"));
    assert_eq!(param(params, "train.lr").as_deref(), Some("0.0002"));
    assert_eq!(
        param(params, "lora.targets").as_deref(),
        Some("q_proj k_proj v_proj o_proj")
    );
    assert_eq!(param(params, "n").as_deref(), Some("4"));
    assert_eq!(param(params, "seed").as_deref(), Some("0"));
    assert_eq!(param(params, "dataset").as_deref(), Some("d"));
    assert_eq!(param(params, "model").as_deref(), Some("m"));
    let metrics: Vec<&serde_json::Value> = ft
        .iter()
        .filter_map(|b| b["metrics"].as_array())
        .flatten()
        .collect();
    let curve = |key: &str| -> Vec<(u64, f64)> {
        metrics
            .iter()
            .filter(|m| m["key"] == key)
            .map(|m| (m["step"].as_u64().unwrap(), m["value"].as_f64().unwrap()))
            .collect()
    };
    assert_eq!(curve("train_loss"), [(1, 2.0), (2, 1.0), (3, 2.0 / 3.0)]);
    assert_eq!(curve("val_loss"), [(3, 1.25)]);
    assert_eq!(curve("best_val_loss"), [(0, 1.25)]);
    // The arm: metric means.
    let arm: Vec<&serde_json::Value> = of_run("run2")
        .into_iter()
        .filter_map(|b| b["metrics"].as_array())
        .flatten()
        .collect();
    assert!(arm
        .iter()
        .any(|m| m["key"] == "token_f1" && m["value"] == 0.5));
    // The comparisons: numbers as metrics, verdicts as tags (secondary ones have none).
    let cmp = of_run("run3");
    let keys: Vec<String> = cmp
        .iter()
        .filter_map(|b| b["metrics"].as_array())
        .flatten()
        .map(|m| m["key"].as_str().unwrap().to_string())
        .collect();
    for k in ["diff", "ci_low", "ci_high", "p", "p_holm"] {
        assert!(
            keys.contains(&format!("d/m/retrieved/token_f1/n4/{k}")),
            "{k}: {keys:?}"
        );
    }
    assert!(!keys.contains(&"d/m/retrieved/answer_recall/n4/p_holm".to_string()));
    let tags: Vec<&serde_json::Value> = cmp
        .iter()
        .filter_map(|b| b["tags"].as_array())
        .flatten()
        .collect();
    assert_eq!(tags.len(), 1);
    assert_eq!(tags[0]["key"], "d/m/retrieved/token_f1/n4/verdict");
    assert_eq!(tags[0]["value"], "inconclusive");
    // Artifacts through the proxy, on the comparison's run.
    let base = "/api/2.0/mlflow-artifacts/artifacts/1/run3/artifacts";
    assert_eq!(
        fake.uploads(),
        [
            format!("{base}/comparison.json"),
            format!("{base}/report/report.html"),
            format!("{base}/report/plots/forest.png"),
        ]
    );
    // Where each step went is kept beside its record, not in its output.
    let marker = tmp
        .path()
        .join("runs/toy-study/steps/finetune__d__m__n4__s0/tracking.json");
    let logged: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(marker).unwrap()).unwrap();
    assert_eq!(logged["run_id"], "run1");
    assert!(!tmp
        .path()
        .join("runs/toy-study/adapters/d/m/n4/s0/tracking.json")
        .exists());

    // A rerun of the cached study logs nothing again.
    fake.clear();
    assert_eq!(run(tmp.path(), &fake.uri(), Duration::from_secs(5)), None);
    assert!(fake.requests().is_empty(), "{:?}", fake.requests());
}

/// Tracking switched on after a study finished logs its cached steps, once.
#[test]
fn cached_steps_are_logged_when_tracking_is_turned_on_later() {
    let tmp = tempfile::tempdir().unwrap();
    let p = plan(tmp.path());
    execute(&p, &Toy, None, &mut |_| {}).unwrap();
    let fake = Fake::start(Mode::Ok);
    assert_eq!(run(tmp.path(), &fake.uri(), Duration::from_secs(5)), None);
    assert_eq!(fake.calls("runs/create").len(), 3);
    assert_eq!(fake.uploads().len(), 3);
    fake.clear();
    // Another server: the study is logged there too; the experiment exists there already.
    let other = Fake::start(Mode::Ok);
    assert_eq!(run(tmp.path(), &other.uri(), Duration::from_secs(5)), None);
    assert_eq!(other.calls("runs/create").len(), 3);
    assert!(fake.requests().is_empty());
}

/// A server that fails in any way: one warning, the first failed call is the last one, the study
/// finishes and nothing is recorded as logged.
fn fails_quietly(uri: &str, want: &str, fake: Option<&Fake>) {
    let tmp = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let warning = run(tmp.path(), uri, Duration::from_millis(500)).expect("a warning");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(!warning.contains('\n'), "{warning}");
    assert!(warning.contains("MLflow tracking at"), "{warning}");
    assert!(warning.contains(want), "{warning}");
    if let Some(fake) = fake {
        assert_eq!(fake.requests().len(), 1, "{:?}", fake.requests());
    }
    let run_dir = tmp.path().join("runs/toy-study");
    assert!(run_dir.join("report/report.html").exists());
    assert!(!run_dir
        .join("steps/finetune__d__m__n4__s0/tracking.json")
        .exists());
}

#[test]
fn a_server_that_is_down_costs_one_warning() {
    fails_quietly(&fake_mlflow::refused_uri(), "127.0.0.1", None);
}

#[test]
fn a_server_that_answers_500_costs_one_warning() {
    let fake = Fake::start(Mode::Status(500));
    fails_quietly(&fake.uri(), "HTTP 500", Some(&fake));
}

#[test]
fn a_slow_server_times_out_with_one_warning() {
    let fake = Fake::start(Mode::Hang(Duration::from_secs(5)));
    fails_quietly(&fake.uri(), "timed out", Some(&fake));
}

#[test]
fn tracking_is_off_without_a_uri_and_warns_on_a_uri_it_cannot_speak() {
    let tmp = tempfile::tempdir().unwrap();
    let p = plan(tmp.path());
    if std::env::var(finefail_runner::tracking::ENV_URI).is_err() {
        let t = Tracker::new(&Config::default(), &p);
        assert!(!t.is_on() && t.warning().is_none());
    }
    let t = Tracker::new(&config("file:///tmp/mlruns"), &p);
    assert!(!t.is_on());
    assert!(t.warning().unwrap().contains("not an http(s) URL"));
}

/// `[tracking]` is in no hash: a config with it hashes as the same config without it, so turning
/// tracking on reruns no step (the compare step follows the config hash).
#[test]
fn tracking_leaves_the_config_hash_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let base = "[[datasets]]\nname = \"d\"\nformat = \"jsonl\"\ninput = \"x.jsonl\"\n[[models]]\nname = \"m\"\npath = \"p\"\n";
    let load = |text: &str| {
        let path = tmp.path().join("study.toml");
        std::fs::write(&path, text).unwrap();
        finefail_runner::load(&path, &[]).unwrap()
    };
    let plain = load(base);
    let tracked = load(&format!(
        "{base}[tracking]\nmlflow_uri = \"http://127.0.0.1:5000\"\n"
    ));
    assert_eq!(
        tracked.tracking.mlflow_uri.as_deref(),
        Some("http://127.0.0.1:5000")
    );
    assert_eq!(plain.hash(), tracked.hash());
    assert!(!serde_json::to_string(&tracked)
        .unwrap()
        .contains("tracking"));
}
