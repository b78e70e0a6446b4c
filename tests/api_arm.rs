//! The API answering arm through `finefail run`: a tiny experiment with a local model and an
//! OpenAI-compatible model served by a scripted local server (which also plays the judge, as a
//! reasoning endpoint). The API model gets only base arms, is answered with the shared retrieval,
//! scored like every arm and shown in the report beside the local model; a missing key or an
//! unreachable endpoint is one line and exit code 2.

mod common;

#[path = "../crates/finefail-data/tests/scripted_server/mod.rs"]
mod scripted_server;

use std::path::Path;
use std::process::{Command, Output};

use scripted_server::{body_of, chat, chat_with_usage, dead_url, is_preflight, serve};

const KEY_VAR: &str = "FINEFAIL_E2E_API_KEY";

fn finefail(args: &[&str], cache: &Path, key: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_finefail"));
    cmd.args(args)
        .env("FINEFAIL_CACHE", cache)
        .env_remove(KEY_VAR);
    if let Some(k) = key {
        cmd.env(KEY_VAR, k);
    }
    cmd.output().expect("run finefail")
}

/// The tiny experiment plus an API model at `url` and a judge at the same server.
fn config(dir: &Path, url: &str) -> std::path::PathBuf {
    let extra = format!(
        r#"[sweep]
sizes = [0, 4]
seeds = [0]
[[models]]
name = "gpt"
kind = "api"
url = "{url}/v1"
model = "gpt-scripted"
key_env = "{KEY_VAR}"
concurrency = 2
timeout_s = 5
max_retries = 1
[judge]
url = "{url}"
model = "judge-scripted"
key_env = "{KEY_VAR}"
max_retries = 1
reasoning = true
reasoning_tokens = 100
"#
    );
    let path = common::write_tiny_experiment(dir, "api", 1, "");
    // The shared config has its own [sweep]; this one replaces it (one seed keeps the test short).
    let text = std::fs::read_to_string(&path).expect("config");
    let text = text.replace("[sweep]\nsizes = [0, 4]\nseeds = [0, 1]\n", "");
    std::fs::write(&path, format!("{text}\n{extra}")).expect("write config");
    path
}

fn reply(request: &str) -> (u16, String, u64) {
    if is_preflight(request) {
        return (200, chat("ok"), 0);
    }
    let body = body_of(request);
    if body["model"] == "judge-scripted" {
        return (200, chat(r#"{"accuracy": 4, "completeness": 3}"#), 0);
    }
    (200, chat_with_usage("red", 30, 1), 0)
}

#[test]
fn an_api_model_answers_its_base_arms_beside_the_local_model() {
    let tmp = tempfile::tempdir().expect("tmp");
    let server = serve(|_, r| reply(r));
    let config = config(tmp.path(), &server.url);
    let cfg = config.to_str().expect("utf-8 path");
    let runs = tmp.path().join("runs");
    let cache = tmp.path().join("cache");
    let runs_s = runs.to_str().expect("utf-8 path");

    let o = finefail(
        &["run", cfg, "--plan", "--runs-dir", runs_s],
        &cache,
        Some("sk-e2e"),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let plan = String::from_utf8_lossy(&o.stdout);
    assert!(plan.contains("answer/tiny/gpt/n0") && plan.contains("finetune/tiny/tiny-llama/n4/s0"));
    assert!(
        !plan.contains("/gpt/n4") && !plan.contains("finetune/tiny/gpt"),
        "{plan}"
    );

    let o = finefail(&["run", cfg, "--runs-dir", runs_s], &cache, Some("sk-e2e"));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        !stderr.contains("sk-e2e"),
        "the key is never printed: {stderr}"
    );
    let run = runs.join("api");
    let answers =
        finefail_data::tables::read_answers(&run.join("answers/tiny/gpt/n0/answers.parquet"))
            .expect("API answers");
    assert_eq!(answers.len(), 6);
    assert!(answers
        .iter()
        .all(|a| a.answer == "red" && a.prompt_tokens == 30 && a.answer_tokens == 1));
    // Every request carried the key; the API arm's prompts are the local arms' RAG prompt; the
    // judge, a reasoning endpoint, got max_completion_tokens and no temperature.
    let requests = server.requests();
    assert!(requests.iter().all(|r| r
        .to_ascii_lowercase()
        .contains("authorization: bearer sk-e2e")));
    let bodies: Vec<_> = requests.iter().map(|r| body_of(r)).collect();
    let api: Vec<_> = bodies
        .iter()
        .filter(|b| b["model"] == "gpt-scripted")
        .collect();
    assert_eq!(api.len(), 1 + 6, "preflight + 6 test questions");
    assert!(api[1..].iter().all(|b| b["messages"][1]["content"]
        .as_str()
        .is_some_and(|u| u.starts_with("Context:\n[1] "))
        && b["max_tokens"] == 6));
    let judge: Vec<_> = bodies
        .iter()
        .filter(|b| b["model"] == "judge-scripted")
        .collect();
    assert!(!judge.is_empty());
    assert!(judge.iter().all(|b| b.get("temperature").is_none()
        && b.get("max_tokens").is_none()
        && b["max_completion_tokens"].as_u64().is_some()));
    // No comparison for the API model (it has no N > 0); the report shows it as a baseline.
    let comparison = std::fs::read_to_string(run.join("comparison.json")).expect("comparison");
    assert!(comparison.contains("tiny-llama") && !comparison.contains("\"gpt\""));
    let report = std::fs::read_to_string(run.join("report/report.md")).expect("report");
    assert!(
        report.contains("`gpt` was never fine-tuned"),
        "the API model has its section, marked as a baseline"
    );
    assert!(
        report.contains("base-only model `gpt`"),
        "the API model is a baseline beside the local model"
    );

    // A rerun costs nothing: every step is cached.
    let before = server.count();
    let o = finefail(&["run", cfg, "--runs-dir", runs_s], &cache, Some("sk-e2e"));
    assert!(o.status.success());
    assert_eq!(server.count(), before);
}

#[test]
fn missing_key_and_unreachable_endpoint_are_one_line_exit_2() {
    let tmp = tempfile::tempdir().expect("tmp");
    let cache = tmp.path().join("cache");
    let runs = tmp.path().join("runs");
    let runs_s = runs.to_str().expect("utf-8 path");
    let url = dead_url();
    let config = config(tmp.path(), &url);
    let cfg = config.to_str().expect("utf-8 path");

    // The key's variable is unset: refused before any step runs.
    let o = finefail(&["run", cfg, "--runs-dir", runs_s], &cache, None);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(KEY_VAR) && err.contains("model `gpt`"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(!runs.join("api/data").exists(), "nothing ran");

    // Nothing listens at the URL: the API arm's preflight stops the run, exit 2.
    let o = finefail(
        &["run", cfg, "--runs-dir", runs_s, "--until", "answer"],
        &cache,
        Some("sk-e2e"),
    );
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("unreachable") && err.contains(&url) && err.contains("gpt-scripted"),
        "{err}"
    );
    assert!(!err.contains("sk-e2e"));
}
