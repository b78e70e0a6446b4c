//! `finefail run` with MLflow tracking, end to end on the tiny study: against a scripted server
//! (one experiment, one MLflow run per fine-tune, arm and comparison, loss curves from the real
//! `metrics.jsonl`, the report's artifacts, nothing again on a cached rerun); against a server
//! that is down (`MLFLOW_TRACKING_URI`: one warning line, exit 0); and against a real
//! `mlflow server` (SQLite, 127.0.0.1), which skips with a message when Python cannot import
//! mlflow.

mod common;
#[path = "../crates/finefail-runner/tests/fake_mlflow/mod.rs"]
mod fake_mlflow;

use fake_mlflow::{Fake, Mode};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `finefail run` of the tiny config with `env` set (and `MLFLOW_TRACKING_URI` unset unless
/// given).
fn run(config: &Path, runs: &Path, env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_finefail"));
    c.arg("run")
        .arg(config)
        .arg("--runs-dir")
        .arg(runs)
        .env("FINEFAIL_PROGRESS_INTERVAL_MS", "100000")
        .env_remove("MLFLOW_TRACKING_URI");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run finefail")
}

fn tracking(uri: &str) -> String {
    format!("[tracking]\nmlflow_uri = \"{uri}\"\n")
}

/// The fine-tunes, arms and comparison of the tiny study (sizes 0 and 4, seeds 0 and 1), sorted.
const LOGGED: [&str; 6] = [
    "compare",
    "finetune/tiny/tiny-llama/n4/s0",
    "finetune/tiny/tiny-llama/n4/s1",
    "score/tiny/tiny-llama/n0",
    "score/tiny/tiny-llama/n4/s0",
    "score/tiny/tiny-llama/n4/s1",
];

#[test]
fn a_study_is_logged_to_mlflow_once() {
    let tmp = tempfile::tempdir().unwrap();
    let fake = Fake::start(Mode::Ok);
    let config = common::write_tiny_experiment(tmp.path(), "tracked", 1, &tracking(&fake.uri()));
    let runs = tmp.path().join("runs");
    let o = run(&config, &runs, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(!err.contains("MLflow"), "{err}");

    assert_eq!(fake.calls("experiments/create").len(), 1);
    let mut names: Vec<String> = fake
        .calls("runs/create")
        .iter()
        .map(|r| r.json()["run_name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(names, LOGGED);
    // A fine-tune's run: its settings and its loss curve, one point per optimizer step.
    let batches: Vec<serde_json::Value> = fake
        .calls("runs/log-batch")
        .iter()
        .map(|r| r.json())
        .collect();
    let params: Vec<(String, String)> = batches
        .iter()
        .filter_map(|b| b["params"].as_array())
        .flatten()
        .map(|p| {
            (
                p["key"].as_str().unwrap().to_string(),
                p["value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (k, v) in [
        ("lora.r", "4"),
        ("train.epochs", "1"),
        ("n", "4"),
        ("seed", "1"),
    ] {
        assert!(params.contains(&(k.into(), v.into())), "{k}: {params:?}");
    }
    let losses = batches
        .iter()
        .filter_map(|b| b["metrics"].as_array())
        .flatten()
        .filter(|m| m["key"] == "train_loss")
        .count();
    assert!(losses >= 2, "{losses} train_loss points");
    let has_metric = |suffix: &str| {
        batches
            .iter()
            .filter_map(|b| b["metrics"].as_array())
            .flatten()
            .any(|m| m["key"].as_str().unwrap().ends_with(suffix))
    };
    assert!(has_metric("/n4/diff") && has_metric("/n4/p_holm"));
    assert!(batches
        .iter()
        .filter_map(|b| b["tags"].as_array())
        .flatten()
        .any(|t| t["key"].as_str().unwrap().ends_with("/verdict")));
    let uploads = fake.uploads();
    assert!(uploads.iter().any(|u| u.ends_with("/comparison.json")));
    assert!(uploads.iter().any(|u| u.ends_with("/report/report.html")));

    // Rerun: every step cached, nothing logged again.
    fake.clear();
    let o = run(&config, &runs, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(fake.requests().is_empty(), "{:?}", fake.requests());
}

#[test]
fn a_tracking_server_that_is_down_costs_one_warning_and_exit_0() {
    let tmp = tempfile::tempdir().unwrap();
    let config = common::write_tiny_experiment(tmp.path(), "down", 1, "");
    let runs = tmp.path().join("runs");
    let uri = fake_mlflow::refused_uri();
    let o = run(&config, &runs, &[("MLFLOW_TRACKING_URI", &uri)]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let warnings: Vec<&str> = err.lines().filter(|l| l.contains("MLflow")).collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(
        warnings[0].starts_with("warning: MLflow tracking at "),
        "{err}"
    );
    assert!(runs.join("down/comparison.json").is_file());
    assert!(runs.join("down/report/report.html").is_file());
}

/// A plain HTTP/1.0 request to 127.0.0.1:`port`; the status and body.
fn http(port: u16, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// Kills the mlflow server's process group (it starts worker processes) when the test ends.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("--")
            .arg(format!("-{}", self.0.id()))
            .status();
        let _ = self.0.wait();
    }
}

#[test]
fn a_real_mlflow_server_receives_the_study() {
    let importable = Command::new("python3")
        .args(["-c", "import mlflow"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !importable {
        println!("skipped: python3 cannot import mlflow (python3 -m pip install --user mlflow)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let store = tmp.path().join("mlflow");
    std::fs::create_dir_all(&store).unwrap();
    let child = {
        use std::os::unix::process::CommandExt;
        Command::new("python3")
            .args([
                "-m",
                "mlflow",
                "server",
                "--host",
                "127.0.0.1",
                "--workers",
                "1",
            ])
            .arg("--port")
            .arg(port.to_string())
            .arg("--backend-store-uri")
            .arg(format!("sqlite:///{}", store.join("db.sqlite").display()))
            .arg("--artifacts-destination")
            .arg(store.join("artifacts"))
            .current_dir(&store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start mlflow server")
    };
    let _server = Server(child);
    let started = Instant::now();
    while http(port, "GET", "/health", "").is_none_or(|(s, _)| s != 200) {
        if started.elapsed() > Duration::from_secs(120) {
            println!("skipped: mlflow server did not answer on 127.0.0.1:{port} within 120 s");
            return;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let uri = format!("http://127.0.0.1:{port}");
    let config = common::write_tiny_experiment(tmp.path(), "real", 1, &tracking(&uri));
    let runs = tmp.path().join("runs");
    let o = run(&config, &runs, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(!err.contains("MLflow"), "{err}");

    let (status, body) = http(
        port,
        "GET",
        "/api/2.0/mlflow/experiments/get-by-name?experiment_name=real",
        "",
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let exp: serde_json::Value = serde_json::from_str(&body).unwrap();
    let id = exp["experiment"]["experiment_id"]
        .as_str()
        .unwrap()
        .to_string();
    let search = serde_json::json!({"experiment_ids": [id], "max_results": 100}).to_string();
    let (status, body) = http(port, "POST", "/api/2.0/mlflow/runs/search", &search).unwrap();
    assert_eq!(status, 200, "{body}");
    let found: serde_json::Value = serde_json::from_str(&body).unwrap();
    let found = found["runs"].as_array().cloned().unwrap_or_default();
    let mut names: Vec<String> = found
        .iter()
        .map(|r| {
            r["info"]["run_name"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    names.sort();
    assert_eq!(names, LOGGED);
    let ft = found
        .iter()
        .find(|r| r["info"]["run_name"] == LOGGED[1])
        .unwrap();
    assert_eq!(ft["info"]["status"], "FINISHED");
    let metric_keys: Vec<&str> = ft["data"]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["key"].as_str().unwrap())
        .collect();
    assert!(metric_keys.contains(&"train_loss"), "{metric_keys:?}");
    let cmp = found
        .iter()
        .find(|r| r["info"]["run_name"] == "compare")
        .unwrap();
    let run_id = cmp["info"]["run_id"].as_str().unwrap();
    let artifacts = store
        .join("artifacts")
        .join(&id)
        .join(run_id)
        .join("artifacts");
    assert!(artifacts.join("comparison.json").is_file());
    assert!(artifacts.join("report/report.html").is_file());

    // A rerun adds no MLflow run.
    let o = run(&config, &runs, &[]);
    assert!(o.status.success());
    let (_, body) = http(port, "POST", "/api/2.0/mlflow/runs/search", &search).unwrap();
    let again: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(again["runs"].as_array().map_or(0, Vec::len), LOGGED.len());
}
