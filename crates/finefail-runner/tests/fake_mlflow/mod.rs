//! A scripted MLflow tracking server for tests: a `std::net` listener on 127.0.0.1 answering the
//! REST calls finefail makes with canned JSON (experiments, runs, log-batch, update, the
//! artifact proxy) and recording every request; or answering every call with one HTTP status, or
//! never answering (a slow server).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the server answers.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// Like MLflow.
    Ok,
    /// Every call gets this status and an MLflow error body.
    Status(u16),
    /// Reads the request and answers nothing for this long.
    Hang(Duration),
}

/// One recorded request.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    pub path: String,
    pub body: String,
}

impl Req {
    /// The body as JSON (`null` when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_default()
    }
    /// Whether this is the REST call `api` (`runs/create`).
    pub fn is(&self, api: &str) -> bool {
        self.path.split('?').next() == Some(&format!("/api/2.0/mlflow/{api}"))
    }
}

#[derive(Default)]
struct State {
    requests: Vec<Req>,
    experiments: BTreeMap<String, String>,
    runs: usize,
}

/// A running fake server (it lives until the test process ends).
pub struct Fake {
    pub port: u16,
    state: Arc<Mutex<State>>,
}

impl Fake {
    /// Starts a server answering in `mode`.
    pub fn start(mode: Mode) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = shared.clone();
                std::thread::spawn(move || serve(stream, &state, mode));
            }
        });
        Fake { port, state }
    }

    /// The server's base URL.
    pub fn uri(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Req> {
        self.state.lock().unwrap().requests.clone()
    }

    /// The requests of the REST call `api`.
    pub fn calls(&self, api: &str) -> Vec<Req> {
        self.requests().into_iter().filter(|r| r.is(api)).collect()
    }

    /// The artifact uploads' paths.
    pub fn uploads(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "PUT")
            .map(|r| r.path)
            .collect()
    }

    /// Forgets the recorded requests (the experiments and runs stay).
    pub fn clear(&self) {
        self.state.lock().unwrap().requests.clear();
    }
}

/// A URI on which nothing listens: connections are refused.
pub fn refused_uri() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

fn serve(stream: TcpStream, state: &Mutex<State>, mode: Mode) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0u8; length];
    let _ = reader.read_exact(&mut body);
    let req = Req {
        method,
        path,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let (status, reply) = {
        let mut s = state.lock().unwrap();
        s.requests.push(req.clone());
        match mode {
            Mode::Ok => answer(&mut s, &req),
            Mode::Status(code) => (
                code,
                r#"{"error_code":"INTERNAL_ERROR","message":"scripted failure"}"#.to_string(),
            ),
            Mode::Hang(_) => (200, "{}".to_string()),
        }
    };
    if let Mode::Hang(d) = mode {
        std::thread::sleep(d);
        return;
    }
    let mut out = stream;
    let _ = write!(
        out,
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
        reply.len()
    );
    let _ = out.flush();
}

/// MLflow's answer to `req`.
fn answer(s: &mut State, req: &Req) -> (u16, String) {
    let v = req.json();
    if req.is("experiments/get-by-name") {
        let name = req
            .path
            .split_once("experiment_name=")
            .map(|(_, n)| n.replace("%2F", "/"))
            .unwrap_or_default();
        return match s.experiments.get(&name) {
            Some(id) => (
                200,
                serde_json::json!({"experiment": {"experiment_id": id, "name": name}}).to_string(),
            ),
            None => (
                404,
                r#"{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"no such experiment"}"#.into(),
            ),
        };
    }
    if req.is("experiments/create") {
        let name = v["name"].as_str().unwrap_or_default().to_string();
        let id = (s.experiments.len() + 1).to_string();
        s.experiments.insert(name, id.clone());
        return (200, serde_json::json!({ "experiment_id": id }).to_string());
    }
    if req.is("runs/create") {
        s.runs += 1;
        let run = format!("run{}", s.runs);
        let exp = v["experiment_id"].as_str().unwrap_or_default();
        return (
            200,
            serde_json::json!({"run": {"info": {
                "run_id": run, "experiment_id": exp, "status": "RUNNING",
                "artifact_uri": format!("mlflow-artifacts:/{exp}/{run}/artifacts"),
            }}})
            .to_string(),
        );
    }
    (200, "{}".into())
}
