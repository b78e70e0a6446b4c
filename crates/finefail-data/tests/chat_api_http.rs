//! The shared chat client against a scripted local server: `Retry-After` in both forms (waits
//! measured), bounded jittered back-off, giving up after `max_retries` with one clear line,
//! malformed replies, timeouts, rejected requests and keys, and the reasoning option's body.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use finefail_data::chat_api::{ChatApiConfig, ChatApiError, ChatClient, ChatParams};
use serde_json::json;

mod scripted_server;

use scripted_server::{body_of, chat, chat_with_usage, dead_url, serve, serve_scripted, Scripted};

fn config(url: &str) -> ChatApiConfig {
    let mut c = ChatApiConfig::new(format!("{url}/v1"), "api-model");
    c.timeout = Duration::from_millis(1500);
    c.max_retries = 2;
    c.backoff = Duration::from_millis(1);
    c
}

fn ask(client: &ChatClient) -> Result<finefail_data::chat_api::Completion, ChatApiError> {
    let messages = [json!({"role": "user", "content": "Capital of France?"})];
    client.complete(&messages, &ChatParams::greedy(16))
}

fn rate_limited(retry_after: &str) -> Scripted {
    Scripted::from((429, "{\"error\": \"slow down\"}".to_string(), 0))
        .with_header("Retry-After", retry_after)
}

/// An HTTP-date (IMF-fixdate) `secs` seconds from now.
fn http_date_in(secs: u64) -> String {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        + secs;
    let (days, rem) = (t / 86_400, t % 86_400);
    // Civil date from days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const M: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    const D: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        D[(days % 7) as usize],
        M[(month - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[test]
fn retry_after_seconds_is_a_floor_for_the_wait() {
    let server = serve_scripted(|i, _| match i {
        0 => rate_limited("1"),
        _ => (200, chat("Paris"), 0).into(),
    });
    let client = ChatClient::new(&config(&server.url)).expect("client");
    let c = ask(&client).expect("second attempt succeeds");
    assert_eq!(c.content, "Paris");
    let t = server.times();
    assert_eq!(t.len(), 2);
    let waited = t[1] - t[0];
    // 1 s from the header, not the 1 ms back-off; at most 10 % jitter on top.
    assert!(
        waited >= Duration::from_millis(990) && waited < Duration::from_millis(1600),
        "waited {waited:?}"
    );
}

#[test]
fn retry_after_http_date_is_honoured_on_503() {
    let date = http_date_in(2);
    let server = serve_scripted(move |i, _| match i {
        0 => Scripted::from((503, "{}".to_string(), 0)).with_header("Retry-After", &date),
        _ => (200, chat("Paris"), 0).into(),
    });
    let client = ChatClient::new(&config(&server.url)).expect("client");
    ask(&client).expect("second attempt succeeds");
    let t = server.times();
    let waited = t[1] - t[0];
    // The date has one-second resolution: "now + 2 s" is 1–2 s away (plus ≤ 10 % jitter).
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_millis(2600),
        "waited {waited:?}"
    );
}

#[test]
fn a_retry_after_beyond_the_limit_ends_the_retries_at_once() {
    let server = serve_scripted(|_, _| rate_limited("3600"));
    let client = ChatClient::new(&config(&server.url)).expect("client");
    let err = ask(&client).expect_err("gives up");
    let msg = err.to_string();
    assert!(
        msg.contains("failed after 1 attempt") && msg.contains("3600 s"),
        "{msg}"
    );
    assert_eq!(server.count(), 1, "no retry after an hour-long Retry-After");
}

#[test]
fn backoff_without_retry_after_is_jittered_within_bounds() {
    let server = serve(|_, _| (500, "{}".into(), 0));
    let mut cfg = config(&server.url);
    cfg.backoff = Duration::from_millis(80);
    cfg.max_retries = 3;
    let client = ChatClient::new(&cfg).expect("client");
    let err = ask(&client).expect_err("always 500");
    assert!(
        matches!(err, ChatApiError::GaveUp { attempts: 4, .. }),
        "{err}"
    );
    let t = server.times();
    assert_eq!(t.len(), 4);
    // Retry k waits in [step/2, step], step = 80 ms · 2^k (plus scheduling slack).
    for k in 0..3 {
        let step = Duration::from_millis(80 * (1 << k));
        let waited = t[k + 1] - t[k];
        assert!(
            waited >= step / 2 && waited <= step + Duration::from_millis(150),
            "retry {k}: waited {waited:?}, step {step:?}"
        );
    }
}

#[test]
fn giving_up_is_one_clear_line() {
    let server = serve(|_, _| (502, "<html>bad gateway</html>".into(), 0));
    let client = ChatClient::new(&config(&server.url)).expect("client");
    let err = ask(&client).expect_err("always 502");
    assert_eq!(
        err.to_string(),
        "failed after 3 attempts (max_retries = 2): HTTP 502"
    );
    assert_eq!(server.count(), 3);
}

#[test]
fn malformed_replies_are_retried_then_reported() {
    // Not JSON, then JSON without choices, then a good reply.
    let server = serve(|i, _| match i {
        0 => (200, "this is not json".into(), 0),
        1 => (200, r#"{"object": "chat.completion"}"#.into(), 0),
        _ => (200, chat_with_usage("Paris", 11, 2), 0),
    });
    let client = ChatClient::new(&config(&server.url)).expect("client");
    let c = ask(&client).expect("third attempt succeeds");
    assert_eq!(
        (c.content.as_str(), c.prompt_tokens, c.answer_tokens()),
        ("Paris", Some(11), Some(2))
    );
    let bad = serve(|i, _| match i {
        0 => (200, "not json".into(), 0),
        _ => (200, r#"{"choices": []}"#.into(), 0),
    });
    let err = ask(&ChatClient::new(&config(&bad.url)).expect("client")).expect_err("malformed");
    let msg = err.to_string();
    assert!(
        msg.contains("3 attempts") && msg.contains("malformed reply without choices"),
        "{msg}"
    );
}

#[test]
fn timeouts_are_retried_and_named() {
    let server = serve(|_, _| (200, chat("late"), 800));
    let mut cfg = config(&server.url);
    cfg.timeout = Duration::from_millis(150);
    cfg.max_retries = 1;
    let err = ask(&ChatClient::new(&cfg).expect("client")).expect_err("timeout");
    assert_eq!(
        err.to_string(),
        "failed after 2 attempts (max_retries = 1): timed out"
    );
}

#[test]
fn a_rejected_request_is_not_retried() {
    let server = serve(|_, _| {
        (
            400,
            r#"{"error": {"message": "Unsupported parameter: 'max_tokens'"}}"#.into(),
            0,
        )
    });
    let err = ask(&ChatClient::new(&config(&server.url)).expect("client")).expect_err("400");
    let msg = err.to_string();
    assert!(
        msg.contains("HTTP 400") && msg.contains("api-model") && msg.contains("max_tokens"),
        "{msg}"
    );
    assert_eq!(server.count(), 1);
}

#[test]
fn preflight_names_what_is_wrong_and_never_the_key() {
    let var = "FINEFAIL_DATA_TEST_KEY_401";
    std::env::set_var(var, "sk-hunter2");
    let server = serve(|_, _| (401, r#"{"error": "bad key"}"#.into(), 0));
    let mut cfg = config(&server.url);
    cfg.key_env = Some(var.into());
    let client = ChatClient::new(&cfg).expect("client");
    let err = client.preflight().expect_err("401");
    let msg = err.to_string();
    assert!(
        msg.contains(&server.url) && msg.contains("rejected the API key") && msg.contains(var),
        "{msg}"
    );
    assert!(!msg.contains("hunter2") && !format!("{client:?}").contains("hunter2"));
    assert!(err.is_configuration());
    assert!(server.requests()[0]
        .to_ascii_lowercase()
        .contains("authorization: bearer sk-hunter2"));

    let url = dead_url();
    let err = ChatClient::new(&config(&url))
        .expect("client")
        .preflight()
        .expect_err("nothing listens");
    assert!(
        matches!(err, ChatApiError::Unreachable { .. }) && err.to_string().contains(&url),
        "{err}"
    );

    let mut cfg = config(&url);
    cfg.key_env = Some("FINEFAIL_DATA_TEST_KEY_NEVER_SET".into());
    let err = ChatClient::new(&cfg).expect_err("missing key");
    assert_eq!(
        err.to_string(),
        "environment variable FINEFAIL_DATA_TEST_KEY_NEVER_SET (the API key) is not set"
    );
}

#[test]
fn reasoning_option_changes_the_request_body() {
    let server = serve(|_, _| (200, chat("ok"), 0));
    let mut cfg = config(&server.url);
    cfg.reasoning = true;
    cfg.reasoning_tokens = 500;
    let client = ChatClient::new(&cfg).expect("client");
    client.preflight().expect("preflight");
    let params = ChatParams {
        max_tokens: 64,
        temperature: 0.7,
        top_p: Some(0.9),
        stop: vec![],
    };
    client
        .complete(&[json!({"role": "user", "content": "hi"})], &params)
        .expect("reply");
    let bodies: Vec<_> = server.requests().iter().map(|r| body_of(r)).collect();
    assert_eq!(bodies[0]["max_completion_tokens"], 505);
    assert_eq!(bodies[1]["max_completion_tokens"], 564);
    for b in &bodies {
        for absent in ["max_tokens", "temperature", "top_p", "stop"] {
            assert!(b.get(absent).is_none(), "{absent} in {b}");
        }
        assert_eq!(b["model"], "api-model");
    }
}
