//! The judge client against a scripted OpenAI-compatible server on 127.0.0.1 started by the test.

use std::time::Duration;

use finefail_data::chat_api::{ChatApiConfig, ChatCache};
use finefail_score::{judge_answers, HttpJudge, JudgeConfig, JudgeRequest, Metric, ScoreError};

#[path = "../../finefail-data/tests/scripted_server/mod.rs"]
mod scripted_server;

use scripted_server::{
    body_of, chat, dead_url, is_preflight, serve, serve_scripted, Scripted, Server,
};

fn config(url: &str) -> JudgeConfig {
    let mut api = ChatApiConfig::new(format!("{url}/v1"), "judge-model");
    api.timeout = Duration::from_millis(1500);
    api.max_retries = 2;
    api.backoff = Duration::from_millis(1);
    JudgeConfig {
        api,
        repeats: 1,
        concurrency: 2,
    }
}

fn requests(n: usize) -> Vec<JudgeRequest> {
    (0..n)
        .map(|i| JudgeRequest {
            arm: "secret-arm/m/n50/s0".into(),
            question_id: format!("q{i}"),
            question: format!("Question {i}?"),
            references: vec![format!("ref {i}")],
            answer: format!("answer {i}"),
        })
        .collect()
}

fn count(server: &Server) -> usize {
    server.count()
}

#[test]
fn good_replies_become_rows_and_are_cached() -> Result<(), ScoreError> {
    let server = serve(|_, _| (200, chat(r#"{"accuracy": 4, "completeness": 3}"#), 0));
    let var = "FINEFAIL_SCORE_TEST_KEY_GOOD";
    std::env::set_var(var, "sekrit-123");
    let mut cfg = config(&server.url);
    cfg.api.key_env = Some(var.into());
    let judge = HttpJudge::new(&cfg)?;
    let dir = tempfile::tempdir().map_err(|e| ScoreError::Internal(e.to_string()))?;
    let cache = ChatCache::open(dir.path())?;
    let reqs = requests(3);
    let rows = judge_answers(&judge, &reqs, 2, 2, Some(&cache), &|_, _| {})?;
    assert_eq!(rows.len(), 3 * 2 * 2);
    assert!(rows
        .iter()
        .all(|r| r.error.is_none() && r.judge.as_deref() == Some("judge-model@judge-v1")));
    let acc: Vec<_> = rows
        .iter()
        .filter(|r| r.metric == Metric::Accuracy)
        .map(|r| r.value)
        .collect();
    assert!(acc.iter().all(|v| *v == Some(4.0)));
    assert!(rows
        .iter()
        .filter(|r| r.metric == Metric::Completeness)
        .all(|r| r.value == Some(3.0)));
    assert_eq!(rows.iter().filter(|r| r.repeat == 1).count(), 6);
    // 1 preflight + 6 judgments, each with the key, temperature 0, and never the arm.
    let seen = server.requests();
    assert_eq!(seen.len(), 7);
    for r in &seen {
        assert!(r.starts_with("POST /v1/chat/completions "), "{r}");
        assert!(r
            .to_ascii_lowercase()
            .contains("authorization: bearer sekrit-123"));
        assert!(r.contains("\"temperature\":0"));
        assert!(!r.contains("secret-arm"));
    }
    // Re-running costs nothing: no preflight, no judgment.
    let again = judge_answers(&judge, &reqs, 2, 2, Some(&cache), &|_, _| {})?;
    assert_eq!(again, rows);
    assert_eq!(count(&server), 7);
    Ok(())
}

#[test]
fn malformed_then_good_is_reasked() -> Result<(), ScoreError> {
    let server = serve(|i, req| {
        if is_preflight(req) {
            (200, chat("ok"), 0)
        } else if i == 1 {
            (200, chat("The answer deserves a 4."), 0)
        } else {
            (200, chat(r#"{"accuracy": 5, "completeness": 2}"#), 0)
        }
    });
    let judge = HttpJudge::new(&config(&server.url))?;
    let rows = judge_answers(&judge, &requests(1), 1, 1, None, &|_, _| {})?;
    assert_eq!(
        rows.iter().map(|r| r.value).collect::<Vec<_>>(),
        vec![Some(5.0), Some(2.0)]
    );
    let seen = server.requests();
    assert_eq!(seen.len(), 3);
    assert!(
        seen[2].contains("Your reply was not valid"),
        "re-ask carries the reminder"
    );
    Ok(())
}

#[test]
fn malformed_forever_becomes_error_rows() -> Result<(), ScoreError> {
    let server = serve(|_, req| {
        if is_preflight(req) {
            (200, chat("ok"), 0)
        } else {
            (200, chat("accuracy four, completeness two"), 0)
        }
    });
    let judge = HttpJudge::new(&config(&server.url))?;
    let rows = judge_answers(&judge, &requests(1), 1, 1, None, &|_, _| {})?;
    assert_eq!(rows.len(), 2);
    for r in &rows {
        assert_eq!(r.value, None);
        assert!(
            r.error.as_deref().unwrap_or("").contains("malformed reply"),
            "{:?}",
            r.error
        );
    }
    assert_eq!(count(&server), 4, "preflight + 1 ask + 2 re-asks");
    Ok(())
}

#[test]
fn rate_limit_then_good_is_retried() -> Result<(), ScoreError> {
    let server = serve(|i, _| match i {
        1 => (429, "{}".into(), 0),
        _ => (200, chat(r#"{"accuracy": 3, "completeness": 3}"#), 0),
    });
    let judge = HttpJudge::new(&config(&server.url))?;
    let rows = judge_answers(&judge, &requests(1), 1, 1, None, &|_, _| {})?;
    assert!(rows.iter().all(|r| r.value == Some(3.0)));
    assert_eq!(count(&server), 3);
    Ok(())
}

#[test]
fn server_error_forever_becomes_error_rows() -> Result<(), ScoreError> {
    let server = serve(|_, req| {
        if is_preflight(req) {
            (200, chat("ok"), 0)
        } else {
            (500, "{\"error\": \"boom\"}".into(), 0)
        }
    });
    let dir = tempfile::tempdir().map_err(|e| ScoreError::Internal(e.to_string()))?;
    let cache = ChatCache::open(dir.path())?;
    let judge = HttpJudge::new(&config(&server.url))?;
    let rows = judge_answers(&judge, &requests(2), 1, 2, Some(&cache), &|_, _| {})?;
    assert_eq!(rows.len(), 4);
    for r in &rows {
        assert_eq!(r.value, None);
        let e = r.error.as_deref().unwrap_or("");
        assert!(e.contains("HTTP 500") && e.contains("3 attempts"), "{e}");
    }
    // 1 preflight + 2 answers × (1 + 2 retries); failures are not cached.
    assert_eq!(count(&server), 7);
    assert_eq!(
        std::fs::read_dir(dir.path())
            .map(|d| d.count())
            .unwrap_or(99),
        0
    );
    Ok(())
}

#[test]
fn timeouts_are_retried_then_recorded() -> Result<(), ScoreError> {
    let server = serve(|_, req| {
        if is_preflight(req) {
            (200, chat("ok"), 0)
        } else {
            (200, chat(r#"{"accuracy": 1, "completeness": 1}"#), 1000)
        }
    });
    let mut cfg = config(&server.url);
    cfg.api.timeout = Duration::from_millis(200);
    cfg.api.max_retries = 1;
    let judge = HttpJudge::new(&cfg)?;
    let rows = judge_answers(&judge, &requests(1), 1, 1, None, &|_, _| {})?;
    assert!(rows.iter().all(|r| r.value.is_none()));
    assert!(
        rows[0].error.as_deref().unwrap_or("").contains("timed out"),
        "{:?}",
        rows[0].error
    );
    Ok(())
}

#[test]
fn rejected_key_on_preflight_is_bad_input() -> Result<(), ScoreError> {
    let server = serve(|_, _| (401, "{\"error\": \"bad key\"}".into(), 0));
    let var = "FINEFAIL_SCORE_TEST_KEY_401";
    std::env::set_var(var, "hunter2-secret");
    let mut cfg = config(&server.url);
    cfg.api.key_env = Some(var.into());
    let judge = HttpJudge::new(&cfg)?;
    let err = judge_answers(&judge, &requests(2), 1, 1, None, &|_, _| {}).err();
    let err = err.expect("preflight must fail");
    assert!(err.is_bad_input());
    let msg = err.to_string();
    assert!(
        msg.contains(&server.url) && msg.contains("rejected"),
        "{msg}"
    );
    assert!(!msg.contains("hunter2"));
    assert_eq!(count(&server), 1, "nothing judged after a failed preflight");
    Ok(())
}

#[test]
fn unreachable_endpoint_and_missing_key_are_bad_input() -> Result<(), ScoreError> {
    let url = dead_url();
    let judge = HttpJudge::new(&config(&url))?;
    let err = judge_answers(&judge, &requests(1), 1, 1, None, &|_, _| {}).expect_err("unreachable");
    assert!(
        err.is_bad_input() && err.to_string().contains(&url),
        "{err}"
    );

    let mut cfg = config(&url);
    cfg.api.key_env = Some("FINEFAIL_SCORE_TEST_KEY_UNSET_XYZ".into());
    let err = HttpJudge::new(&cfg).expect_err("missing key");
    assert!(
        err.is_bad_input()
            && err
                .to_string()
                .contains("FINEFAIL_SCORE_TEST_KEY_UNSET_XYZ")
    );
    Ok(())
}

#[test]
fn reasoning_endpoints_get_max_completion_tokens_and_no_temperature() -> Result<(), ScoreError> {
    let server = serve(|_, _| (200, chat(r#"{"accuracy": 5, "completeness": 5}"#), 0));
    let mut cfg = config(&server.url);
    cfg.api.reasoning = true;
    cfg.api.reasoning_tokens = 1000;
    let judge = HttpJudge::new(&cfg)?;
    let rows = judge_answers(&judge, &requests(1), 1, 1, None, &|_, _| {})?;
    assert!(rows.iter().all(|r| r.value == Some(5.0)));
    let seen = server.requests();
    assert_eq!(seen.len(), 2, "preflight + 1 judgment");
    for r in &seen {
        let body = body_of(r);
        let fields = body.as_object().cloned().unwrap_or_default();
        assert!(fields.contains_key("max_completion_tokens"), "{body}");
        assert!(!fields.contains_key("max_tokens"), "{body}");
        assert!(!fields.contains_key("temperature"), "{body}");
    }
    // The judgment's 32 visible tokens plus the reasoning budget.
    assert_eq!(body_of(&seen[1])["max_completion_tokens"], 1032);
    // Without the option: max_tokens and temperature 0, as before.
    let plain = serve(|_, _| (200, chat(r#"{"accuracy": 5, "completeness": 5}"#), 0));
    let judge = HttpJudge::new(&config(&plain.url))?;
    judge_answers(&judge, &requests(1), 1, 1, None, &|_, _| {})?;
    let body = body_of(&plain.requests()[1]);
    assert_eq!(
        (body["max_tokens"].clone(), body["temperature"].clone()),
        (32.into(), 0.0.into())
    );
    assert!(body.get("max_completion_tokens").is_none());
    Ok(())
}

#[test]
fn retry_after_is_honoured_by_the_judge() -> Result<(), ScoreError> {
    let server = serve_scripted(|i, _| {
        if i == 1 {
            Scripted::from((429, "{}".to_string(), 0)).with_header("Retry-After", "1")
        } else {
            (200, chat(r#"{"accuracy": 2, "completeness": 4}"#), 0).into()
        }
    });
    let judge = HttpJudge::new(&config(&server.url))?;
    let rows = judge_answers(&judge, &requests(1), 1, 1, None, &|_, _| {})?;
    assert_eq!(rows[0].value, Some(2.0));
    let t = server.times();
    assert_eq!(t.len(), 3);
    let waited = t[2] - t[1];
    // Retry-After: 1 s is a floor (the configured 1 ms back-off is not used), jitter ≤ 10 %.
    assert!(
        waited >= Duration::from_millis(990) && waited < Duration::from_millis(1600),
        "waited {waited:?}"
    );
    Ok(())
}

#[test]
fn rate_limited_forever_stops_at_max_retries_with_one_clear_error_row() -> Result<(), ScoreError> {
    let server = serve_scripted(|_, req| {
        if is_preflight(req) {
            (200, chat("ok"), 0).into()
        } else {
            Scripted::from((429, "{}".to_string(), 0)).with_header("Retry-After", "0")
        }
    });
    let judge = HttpJudge::new(&config(&server.url))?;
    let rows = judge_answers(&judge, &requests(1), 1, 1, None, &|_, _| {})?;
    assert_eq!(rows.len(), 2);
    for r in &rows {
        assert_eq!(r.value, None);
        let e = r.error.as_deref().unwrap_or("");
        assert!(
            e.contains("failed after 3 attempts (max_retries = 2)") && e.contains("HTTP 429"),
            "{e}"
        );
        assert!(!e.contains('\n'), "one line: {e}");
    }
    assert_eq!(
        count(&server),
        1 + 3,
        "preflight + 1 ask + 2 retries, no more"
    );
    Ok(())
}
