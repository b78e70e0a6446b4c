//! The judge client against a scripted OpenAI-compatible server on 127.0.0.1 started by the test.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use finefail_score::{
    judge_answers, HttpJudge, JudgeCache, JudgeConfig, JudgeRequest, Metric, ScoreError,
};

type Handler = dyn Fn(usize, &str) -> (u16, String, u64) + Send + Sync;

/// A tiny HTTP/1.1 server: `handler(request_index, raw_request)` gives (status, body, delay ms).
struct Server {
    url: String,
    requests: Arc<Mutex<Vec<String>>>,
}

fn serve(handler: Box<Handler>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&requests);
    let handler: Arc<Handler> = Arc::from(handler);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let seen = Arc::clone(&seen);
            let handler = Arc::clone(&handler);
            std::thread::spawn(move || respond(stream, &seen, &*handler));
        }
    });
    Server { url, requests }
}

fn respond(stream: TcpStream, seen: &Mutex<Vec<String>>, handler: &Handler) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0u8; len];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let request = format!("{head}{}", String::from_utf8_lossy(&body));
    let index = {
        let mut s = seen.lock().expect("lock");
        s.push(request.clone());
        s.len() - 1
    };
    let (status, reply, delay) = handler(index, &request);
    std::thread::sleep(Duration::from_millis(delay));
    let mut stream = reader.into_inner();
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
        reply.len()
    );
    let _ = stream.flush();
}

fn chat(content: &str) -> String {
    serde_json::json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}).to_string()
}

fn is_preflight(req: &str) -> bool {
    req.contains("Reply with the word: ok")
}

fn config(url: &str) -> JudgeConfig {
    JudgeConfig {
        url: format!("{url}/v1"),
        model: "judge-model".into(),
        key_env: None,
        repeats: 1,
        concurrency: 2,
        timeout: Duration::from_millis(1500),
        max_retries: 2,
        backoff: Duration::from_millis(1),
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
    server.requests.lock().map(|r| r.len()).unwrap_or(0)
}

#[test]
fn good_replies_become_rows_and_are_cached() -> Result<(), ScoreError> {
    let server = serve(Box::new(|_, _| {
        (200, chat(r#"{"accuracy": 4, "completeness": 3}"#), 0)
    }));
    let var = "FINEFAIL_SCORE_TEST_KEY_GOOD";
    std::env::set_var(var, "sekrit-123");
    let mut cfg = config(&server.url);
    cfg.key_env = Some(var.into());
    let judge = HttpJudge::new(&cfg)?;
    let dir = tempfile::tempdir().map_err(|e| ScoreError::Internal(e.to_string()))?;
    let cache = JudgeCache::open(dir.path())?;
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
    let seen = server
        .requests
        .lock()
        .map(|r| r.clone())
        .unwrap_or_default();
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
    let server = serve(Box::new(|i, req| {
        if is_preflight(req) {
            (200, chat("ok"), 0)
        } else if i == 1 {
            (200, chat("The answer deserves a 4."), 0)
        } else {
            (200, chat(r#"{"accuracy": 5, "completeness": 2}"#), 0)
        }
    }));
    let judge = HttpJudge::new(&config(&server.url))?;
    let rows = judge_answers(&judge, &requests(1), 1, 1, None, &|_, _| {})?;
    assert_eq!(
        rows.iter().map(|r| r.value).collect::<Vec<_>>(),
        vec![Some(5.0), Some(2.0)]
    );
    let seen = server
        .requests
        .lock()
        .map(|r| r.clone())
        .unwrap_or_default();
    assert_eq!(seen.len(), 3);
    assert!(
        seen[2].contains("Your reply was not valid"),
        "re-ask carries the reminder"
    );
    Ok(())
}

#[test]
fn malformed_forever_becomes_error_rows() -> Result<(), ScoreError> {
    let server = serve(Box::new(|_, req| {
        if is_preflight(req) {
            (200, chat("ok"), 0)
        } else {
            (200, chat("accuracy four, completeness two"), 0)
        }
    }));
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
    let server = serve(Box::new(|i, _| match i {
        1 => (429, "{}".into(), 0),
        _ => (200, chat(r#"{"accuracy": 3, "completeness": 3}"#), 0),
    }));
    let judge = HttpJudge::new(&config(&server.url))?;
    let rows = judge_answers(&judge, &requests(1), 1, 1, None, &|_, _| {})?;
    assert!(rows.iter().all(|r| r.value == Some(3.0)));
    assert_eq!(count(&server), 3);
    Ok(())
}

#[test]
fn server_error_forever_becomes_error_rows() -> Result<(), ScoreError> {
    let server = serve(Box::new(|_, req| {
        if is_preflight(req) {
            (200, chat("ok"), 0)
        } else {
            (500, "{\"error\": \"boom\"}".into(), 0)
        }
    }));
    let dir = tempfile::tempdir().map_err(|e| ScoreError::Internal(e.to_string()))?;
    let cache = JudgeCache::open(dir.path())?;
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
    let server = serve(Box::new(|_, req| {
        if is_preflight(req) {
            (200, chat("ok"), 0)
        } else {
            (200, chat(r#"{"accuracy": 1, "completeness": 1}"#), 1000)
        }
    }));
    let mut cfg = config(&server.url);
    cfg.timeout = Duration::from_millis(200);
    cfg.max_retries = 1;
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
    let server = serve(Box::new(|_, _| (401, "{\"error\": \"bad key\"}".into(), 0)));
    let var = "FINEFAIL_SCORE_TEST_KEY_401";
    std::env::set_var(var, "hunter2-secret");
    let mut cfg = config(&server.url);
    cfg.key_env = Some(var.into());
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
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| ScoreError::Internal(e.to_string()))?;
    let url = format!("http://127.0.0.1:{port}");
    let judge = HttpJudge::new(&config(&url))?;
    let err = judge_answers(&judge, &requests(1), 1, 1, None, &|_, _| {}).expect_err("unreachable");
    assert!(
        err.is_bad_input() && err.to_string().contains(&url),
        "{err}"
    );

    let mut cfg = config(&url);
    cfg.key_env = Some("FINEFAIL_SCORE_TEST_KEY_UNSET_XYZ".into());
    let err = HttpJudge::new(&cfg).err().expect("missing key");
    assert!(
        err.is_bad_input()
            && err
                .to_string()
                .contains("FINEFAIL_SCORE_TEST_KEY_UNSET_XYZ")
    );
    Ok(())
}
