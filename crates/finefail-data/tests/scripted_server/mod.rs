//! A scripted OpenAI-compatible server on 127.0.0.1 for tests of the chat client, the judge, the
//! API answering arm and the runner: std `TcpListener`, one thread per connection, no
//! dependencies. `handler(request_index, raw_request)` decides each reply (status, body, delay,
//! extra headers); every request is recorded with its arrival time, so a test can measure waits.
//!
//! Shared by path (`#[path = ".../scripted_server/mod.rs"] mod scripted_server;`) from the
//! data, score and rag crates' tests and the binary's end-to-end tests.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One scripted reply.
#[derive(Debug, Clone)]
pub struct Scripted {
    pub status: u16,
    pub body: String,
    /// Sleep before replying (timeouts).
    pub delay_ms: u64,
    /// Extra headers, e.g. `("Retry-After", "1")`.
    pub headers: Vec<(String, String)>,
}

impl From<(u16, String, u64)> for Scripted {
    fn from((status, body, delay_ms): (u16, String, u64)) -> Self {
        Scripted {
            status,
            body,
            delay_ms,
            headers: Vec::new(),
        }
    }
}

impl Scripted {
    /// A reply with one extra header.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

type Handler = dyn Fn(usize, &str) -> Scripted + Send + Sync;

/// A running server: its base URL and what it was asked.
pub struct Server {
    pub url: String,
    seen: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl Server {
    /// Every raw request (head and body), in arrival order.
    pub fn requests(&self) -> Vec<String> {
        self.seen
            .lock()
            .map(|r| r.iter().map(|(_, s)| s.clone()).collect())
            .unwrap_or_default()
    }

    /// Arrival time of every request.
    pub fn times(&self) -> Vec<Instant> {
        self.seen
            .lock()
            .map(|r| r.iter().map(|(t, _)| *t).collect())
            .unwrap_or_default()
    }

    /// Requests so far.
    pub fn count(&self) -> usize {
        self.seen.lock().map(|r| r.len()).unwrap_or(0)
    }
}

/// Starts a server whose `handler` gives (status, body, delay ms) for each request.
pub fn serve<F>(handler: F) -> Server
where
    F: Fn(usize, &str) -> (u16, String, u64) + Send + Sync + 'static,
{
    serve_scripted(move |i, r| handler(i, r).into())
}

/// Starts a server whose `handler` gives a full [`Scripted`] reply (extra headers).
pub fn serve_scripted<F>(handler: F) -> Server
where
    F: Fn(usize, &str) -> Scripted + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorded = Arc::clone(&seen);
    let handler: Arc<Handler> = Arc::new(handler);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let recorded = Arc::clone(&recorded);
            let handler = Arc::clone(&handler);
            std::thread::spawn(move || respond(stream, &recorded, &*handler));
        }
    });
    Server { url, seen }
}

/// A URL where nothing listens (a port bound and released).
pub fn dead_url() -> String {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    format!("http://127.0.0.1:{port}")
}

/// An OpenAI chat-completions reply with `content`.
pub fn chat(content: &str) -> String {
    serde_json::json!({"choices": [{"index": 0, "finish_reason": "stop",
        "message": {"role": "assistant", "content": content}}]})
    .to_string()
}

/// [`chat`] with a `usage` object.
pub fn chat_with_usage(content: &str, prompt_tokens: u64, completion_tokens: u64) -> String {
    serde_json::json!({"choices": [{"index": 0, "finish_reason": "stop",
        "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens}})
    .to_string()
}

/// The JSON body of a raw request.
pub fn body_of(request: &str) -> serde_json::Value {
    let body = request.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or(serde_json::Value::Null)
}

/// True for the clients' preflight request.
pub fn is_preflight(request: &str) -> bool {
    request.contains("Reply with the word: ok")
}

fn respond(stream: TcpStream, seen: &Mutex<Vec<(Instant, String)>>, handler: &Handler) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let arrived = Instant::now();
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
        let Ok(mut s) = seen.lock() else { return };
        s.push((arrived, request.clone()));
        s.len() - 1
    };
    let reply = handler(index, &request);
    std::thread::sleep(Duration::from_millis(reply.delay_ms));
    let mut stream = reader.into_inner();
    let extra: String = reply
        .headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let _ = write!(
        stream,
        "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{}",
        reply.status,
        reply.body.len(),
        reply.body
    );
    let _ = stream.flush();
}
