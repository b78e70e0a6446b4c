//! One client for any OpenAI-compatible `POST {base}/v1/chat/completions` (OpenAI, vLLM, Ollama,
//! llama.cpp server), shared by the LLM judge (`finefail-score`) and the API answering arm
//! (`finefail-rag`). It lives here, in the crate both depend on, so neither needs the other.
//!
//! What makes it a good API client:
//! - a whole-request timeout; retries on 429, 5xx, timeouts, connection failures and malformed
//!   replies (non-JSON, no `choices[0].message.content`), at most `max_retries` after the first
//!   attempt, then one line saying how many attempts were made and what the last one got;
//! - `Retry-After` honoured on those replies (seconds or HTTP-date), else exponential back-off
//!   with jitter ([`retry`]);
//! - other 4xx stop at once (retrying a rejected request cannot help);
//! - reasoning-model endpoints (`reasoning = true`): `max_completion_tokens` instead of
//!   `max_tokens` (with room for the hidden reasoning) and no sampling parameters, which those
//!   endpoints reject;
//! - the API key lives only in memory and in the `Authorization` header: never in a `Debug`
//!   output, an error or a log line.
//!
//! Batches go through [`ask_all`] ([`ask`]): cached answers reused ([`ChatCache`]), one preflight,
//! a bounded pool of workers, per-request errors as values. Both callers use it: the answering
//! arm asks one completion per question, the judge one judgment (with its re-asks) per answer.

pub mod ask;
pub mod cache;
pub mod retry;

pub use ask::{ask_all, Answered, AskOptions, AskResults};
pub use cache::ChatCache;

use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// Settings of one endpoint: the judge's `[judge]` or an API model's `[[models]]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatApiConfig {
    /// Base URL, with or without `/v1` (or the complete `…/chat/completions`).
    pub url: String,
    /// The endpoint's model name, sent in every request.
    pub model: String,
    /// Name of the environment variable holding the API key; `None` sends no key (local servers).
    pub key_env: Option<String>,
    /// Whole-request timeout.
    pub timeout: Duration,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First back-off step; doubled at every retry (see [`retry`]).
    pub backoff: Duration,
    /// A reasoning-model endpoint: send `max_completion_tokens`, no `temperature` / `top_p`.
    pub reasoning: bool,
    /// With `reasoning`: completion tokens allowed for hidden reasoning, on top of the visible
    /// reply's limit (a reasoning model spends its budget thinking before it writes a word).
    pub reasoning_tokens: u32,
}

/// Default extra completion tokens for a reasoning model's hidden reasoning.
pub const DEFAULT_REASONING_TOKENS: u32 = 4096;

/// Default retries after the first attempt, for the judge (`[judge]`, `finefail score
/// --judge-url`) and API models (`[[models]]`) alike: the value docs/config.md documents, so a
/// request is tried at most 4 times (at most 1 + 2 + 4 s of back-off without `Retry-After`).
pub const DEFAULT_MAX_RETRIES: u32 = 3;

impl ChatApiConfig {
    /// The defaults for an endpoint and model: no key, 60 s timeout, [`DEFAULT_MAX_RETRIES`]
    /// retries from a 1 s back-off, a plain chat model.
    pub fn new(url: impl Into<String>, model: impl Into<String>) -> Self {
        ChatApiConfig {
            url: url.into(),
            model: model.into(),
            key_env: None,
            timeout: Duration::from_secs(60),
            max_retries: DEFAULT_MAX_RETRIES,
            backoff: Duration::from_secs(1),
            reasoning: false,
            reasoning_tokens: DEFAULT_REASONING_TOKENS,
        }
    }
}

/// Generation parameters of one request (model-independent, so they are part of cache keys).
#[derive(Debug, Clone, PartialEq)]
pub struct ChatParams {
    /// Limit of the visible reply, in tokens.
    pub max_tokens: u32,
    /// Sampling temperature (0 = greedy); not sent to reasoning endpoints.
    pub temperature: f64,
    /// Nucleus sampling; `None` leaves the endpoint's default. Not sent to reasoning endpoints.
    pub top_p: Option<f64>,
    /// Stop strings (sent only when non-empty).
    pub stop: Vec<String>,
}

impl ChatParams {
    /// Greedy decoding up to `max_tokens`: what the judge and preflight requests use.
    pub fn greedy(max_tokens: u32) -> Self {
        ChatParams {
            max_tokens,
            temperature: 0.0,
            top_p: None,
            stop: Vec::new(),
        }
    }
}

/// A successful reply: the assistant's text and what the endpoint says it counted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    /// `choices[0].message.content`.
    pub content: String,
    /// `usage.prompt_tokens`, when the endpoint reports usage.
    pub prompt_tokens: Option<u64>,
    /// `usage.completion_tokens` (hidden reasoning included), when reported.
    pub completion_tokens: Option<u64>,
    /// `usage.completion_tokens_details.reasoning_tokens`, when reported.
    pub reasoning_tokens: Option<u64>,
    /// Wall time of the successful attempt, milliseconds.
    pub ms: u64,
}

impl Completion {
    /// Tokens of the visible answer: completion tokens less hidden reasoning, when reported.
    pub fn answer_tokens(&self) -> Option<u64> {
        self.completion_tokens
            .map(|c| c.saturating_sub(self.reasoning_tokens.unwrap_or(0)))
    }
}

/// Why a request (or the preflight) failed. Messages are one line, name the endpoint where it
/// helps, and never contain the key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChatApiError {
    /// `key_env` names a variable that is unset or empty.
    #[error("environment variable {0} (the API key) is not set")]
    MissingKey(String),
    /// The preflight got no usable reply at all (connection refused, DNS, timeouts, 5xx).
    #[error("{url} is unreachable: {last}")]
    Unreachable {
        /// The configured URL.
        url: String,
        /// What the last attempt got.
        last: String,
    },
    /// HTTP 401/403: the key is missing, wrong or not allowed.
    #[error("{url} rejected the API key (HTTP {status}; {hint})")]
    KeyRejected {
        /// The configured URL.
        url: String,
        /// 401 or 403.
        status: u16,
        /// Which variable the key came from, or that none is configured.
        hint: String,
    },
    /// Another 4xx: the request itself is wrong (unknown model, unsupported parameter, prompt
    /// too long); retrying cannot help.
    #[error("{url} answered HTTP {status} for model `{model}`: {body}")]
    Rejected {
        /// The configured URL.
        url: String,
        /// The model asked for.
        model: String,
        /// The status code.
        status: u16,
        /// The start of the reply body (the endpoint's explanation).
        body: String,
    },
    /// Every attempt failed with something worth retrying, or the server asked to wait longer
    /// than [`retry::MAX_RETRY_AFTER`].
    #[error("failed after {} (max_retries = {max_retries}): {last}", attempts_text(*attempts))]
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// The configured retry limit.
        max_retries: u32,
        /// What the last attempt got.
        last: String,
    },
}

impl ChatApiError {
    /// True for what the user must fix before anything can work (missing or rejected key, an
    /// unreachable endpoint, a rejected request): bad input, exit code 2, when met at preflight.
    pub fn is_configuration(&self) -> bool {
        !matches!(self, ChatApiError::GaveUp { .. })
    }
}

fn attempts_text(n: u32) -> String {
    if n == 1 {
        "1 attempt".into()
    } else {
        format!("{n} attempts")
    }
}

/// What one HTTP exchange came to.
enum Reply {
    Ok(Value, u64),
    /// Worth retrying: 429, 5xx, timeout, connection trouble, a 2xx that is not JSON or has no
    /// content. `retry_after` is the server's `Retry-After`, when it sent one.
    Transient {
        why: String,
        retry_after: Option<Duration>,
    },
    /// Retrying will not help: another 4xx.
    Fatal(u16, String),
}

/// The API key, kept out of every formatted output.
struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A client for one OpenAI-compatible chat-completions endpoint.
#[derive(Debug)]
pub struct ChatClient {
    /// Holds the connection pool; `Debug` shows the settings only.
    agent: DebugSkip<ureq::Agent>,
    cfg: ChatApiConfig,
    endpoint: String,
    key: Option<Secret>,
}

/// A field left out of `Debug`.
struct DebugSkip<T>(T);

impl<T> std::fmt::Debug for DebugSkip<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("…")
    }
}

/// `{base}/v1/chat/completions` from a base URL given with or without `/v1` (or already complete).
pub fn chat_endpoint(url: &str) -> String {
    let base = url.trim().trim_end_matches('/');
    if base.ends_with("/chat/completions") {
        base.to_owned()
    } else if base.ends_with("/v1") {
        format!("{base}/chat/completions")
    } else {
        format!("{base}/v1/chat/completions")
    }
}

/// The first 200 characters of a reply body, on one line (for error messages).
pub fn snippet(text: &str) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut s: String = one_line.chars().take(200).collect();
    if one_line.chars().count() > 200 {
        s.push('…');
    }
    s
}

/// The messages a preflight sends: cheap, and any model can answer it.
pub const PREFLIGHT_PROMPT: &str = "Reply with the word: ok";

impl ChatClient {
    /// Builds the client; reads the key from the environment variable *named* by `key_env`.
    pub fn new(cfg: &ChatApiConfig) -> Result<Self, ChatApiError> {
        let key = match &cfg.key_env {
            Some(var) => match std::env::var(var) {
                Ok(k) if !k.trim().is_empty() => Some(Secret(k.trim().to_owned())),
                _ => return Err(ChatApiError::MissingKey(var.clone())),
            },
            None => None,
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(cfg.timeout))
            .http_status_as_error(false)
            .build()
            .into();
        Ok(ChatClient {
            agent: DebugSkip(agent),
            endpoint: chat_endpoint(&cfg.url),
            cfg: cfg.clone(),
            key,
        })
    }

    /// The endpoint's model name.
    pub fn model(&self) -> &str {
        &self.cfg.model
    }

    /// The configured URL (for messages).
    pub fn url(&self) -> &str {
        &self.cfg.url
    }

    /// The settings this client was built with.
    pub fn config(&self) -> &ChatApiConfig {
        &self.cfg
    }

    /// The JSON request body for `messages` and `params`, with the reasoning option applied. It
    /// holds neither the URL nor the key, so its hash is a sound cache key.
    pub fn body(&self, messages: &[Value], params: &ChatParams) -> Value {
        let mut body = Map::new();
        body.insert("model".into(), json!(self.cfg.model));
        body.insert("messages".into(), json!(messages));
        if self.cfg.reasoning {
            let limit = params.max_tokens.saturating_add(self.cfg.reasoning_tokens);
            body.insert("max_completion_tokens".into(), json!(limit));
        } else {
            body.insert("max_tokens".into(), json!(params.max_tokens));
            body.insert("temperature".into(), json!(params.temperature));
            if let Some(p) = params.top_p {
                body.insert("top_p".into(), json!(p));
            }
        }
        if !params.stop.is_empty() {
            body.insert("stop".into(), json!(params.stop));
        }
        Value::Object(body)
    }

    /// One request proving the endpoint is usable: reachable, key accepted, model known. Any 2xx
    /// JSON reply passes. Transient failures are retried like any request; when none succeeds the
    /// endpoint is [`ChatApiError::Unreachable`].
    pub fn preflight(&self) -> Result<(), ChatApiError> {
        let messages = [json!({"role": "user", "content": PREFLIGHT_PROMPT})];
        let body = self.body(&messages, &ChatParams::greedy(5));
        let mut last = String::new();
        for attempt in 0..=self.cfg.max_retries {
            match self.send(&body) {
                Reply::Ok(..) => return Ok(()),
                Reply::Fatal(status, body) => return Err(self.fatal(status, body)),
                Reply::Transient { why, retry_after } => {
                    last = why;
                    if attempt < self.cfg.max_retries {
                        if let Err(why) = self.wait(attempt, retry_after) {
                            last = why;
                            break;
                        }
                    }
                }
            }
        }
        Err(ChatApiError::Unreachable {
            url: self.cfg.url.clone(),
            last,
        })
    }

    /// One chat completion, retried as the module doc says.
    pub fn complete(
        &self,
        messages: &[Value],
        params: &ChatParams,
    ) -> Result<Completion, ChatApiError> {
        self.complete_body(&self.body(messages, params))
    }

    /// [`ChatClient::complete`] for a body built with [`ChatClient::body`] (callers that hash the
    /// body for a cache key send exactly what they hashed).
    pub fn complete_body(&self, body: &Value) -> Result<Completion, ChatApiError> {
        let mut last = String::new();
        let mut attempts = 0;
        for attempt in 0..=self.cfg.max_retries {
            attempts = attempt + 1;
            let retry_after = match self.send(body) {
                Reply::Ok(v, ms) => match completion(&v, ms, self.cfg.reasoning) {
                    Ok(c) => return Ok(c),
                    Err(why) => {
                        last = why;
                        None
                    }
                },
                Reply::Fatal(status, body) => return Err(self.fatal(status, body)),
                Reply::Transient { why, retry_after } => {
                    last = why;
                    retry_after
                }
            };
            if attempt < self.cfg.max_retries {
                if let Err(why) = self.wait(attempt, retry_after) {
                    last = format!("{last}; {why}");
                    break;
                }
            }
        }
        Err(ChatApiError::GaveUp {
            attempts,
            max_retries: self.cfg.max_retries,
            last,
        })
    }

    fn fatal(&self, status: u16, body: String) -> ChatApiError {
        match status {
            401 | 403 => ChatApiError::KeyRejected {
                url: self.cfg.url.clone(),
                status,
                hint: match &self.cfg.key_env {
                    Some(var) => format!("check the key in {var}"),
                    None => "no key_env is configured, so no key was sent".into(),
                },
            },
            _ => ChatApiError::Rejected {
                url: self.cfg.url.clone(),
                model: self.cfg.model.clone(),
                status,
                body,
            },
        }
    }

    /// Sleeps before retry `attempt + 1`; `Err` (with the reason) when the server asks for a wait
    /// longer than [`retry::MAX_RETRY_AFTER`].
    fn wait(&self, attempt: u32, retry_after: Option<Duration>) -> Result<(), String> {
        if let Some(ra) = retry_after.filter(|ra| *ra > retry::MAX_RETRY_AFTER) {
            return Err(format!(
                "the server asks to retry after {} s, more than the {} s finefail waits",
                ra.as_secs(),
                retry::MAX_RETRY_AFTER.as_secs()
            ));
        }
        let delay =
            retry::retry_delay(self.cfg.backoff, attempt, retry_after, retry::jitter_unit());
        std::thread::sleep(delay);
        Ok(())
    }

    fn send(&self, body: &Value) -> Reply {
        let text = body.to_string();
        let mut req = self
            .agent
            .0
            .post(&self.endpoint)
            .header("content-type", "application/json");
        if let Some(Secret(k)) = &self.key {
            req = req.header("authorization", &format!("Bearer {k}"));
        }
        let started = Instant::now();
        let resp = match req.send(text.as_str()) {
            Ok(r) => r,
            Err(e) => return transient(transport_error(&e)),
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry::parse_retry_after(v, SystemTime::now()));
        let text = match resp.into_body().read_to_string() {
            Ok(t) => t,
            Err(e) => return transient(transport_error(&e)),
        };
        let ms = started.elapsed().as_millis() as u64;
        match status {
            200..=299 => match serde_json::from_str::<Value>(&text) {
                Ok(v) => Reply::Ok(v, ms),
                Err(_) => transient(format!(
                    "HTTP {status} with a body that is not JSON: {}",
                    snippet(&text)
                )),
            },
            408 | 429 | 500..=599 => Reply::Transient {
                why: match retry_after {
                    Some(ra) => format!("HTTP {status} (Retry-After {} s)", ra.as_secs()),
                    None => format!("HTTP {status}"),
                },
                retry_after,
            },
            _ => Reply::Fatal(status, snippet(&text)),
        }
    }
}

fn transient(why: String) -> Reply {
    Reply::Transient {
        why,
        retry_after: None,
    }
}

fn transport_error(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(_) => "timed out".to_owned(),
        other => other.to_string(),
    }
}

/// The completion in a 2xx reply, or why it is malformed.
fn completion(v: &Value, ms: u64, reasoning: bool) -> Result<Completion, String> {
    let choice = v.pointer("/choices/0");
    let content = choice.and_then(|c| c.pointer("/message/content"));
    let finish = choice
        .and_then(|c| c.get("finish_reason"))
        .and_then(Value::as_str);
    let content = match content.and_then(Value::as_str) {
        Some(c) if !(c.is_empty() && finish == Some("length")) => c.to_owned(),
        _ if finish == Some("length") => {
            return Err(format!(
                "reply cut at the token limit before any content (finish_reason `length`){}",
                if reasoning {
                    "; raise reasoning_tokens"
                } else {
                    ""
                }
            ))
        }
        _ => {
            return Err(format!(
                "malformed reply without choices[0].message.content: {}",
                snippet(&v.to_string())
            ))
        }
    };
    let count = |p: &str| v.pointer(p).and_then(Value::as_u64);
    Ok(Completion {
        content,
        prompt_tokens: count("/usage/prompt_tokens"),
        completion_tokens: count("/usage/completion_tokens"),
        reasoning_tokens: count("/usage/completion_tokens_details/reasoning_tokens"),
        ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_accepts_base_with_or_without_v1() {
        let want = "http://h:8000/v1/chat/completions";
        for url in [
            "http://h:8000",
            "http://h:8000/",
            "http://h:8000/v1",
            "http://h:8000/v1/",
            want,
        ] {
            assert_eq!(chat_endpoint(url), want, "{url}");
        }
    }

    #[test]
    fn reasoning_bodies_send_max_completion_tokens_and_no_sampling() {
        let mut cfg = ChatApiConfig::new("http://h", "m");
        let params = ChatParams {
            max_tokens: 32,
            temperature: 0.0,
            top_p: Some(0.9),
            stop: vec!["\n\n".into()],
        };
        let plain = ChatClient::new(&cfg).map(|c| c.body(&[], &params));
        let plain = plain.as_ref().ok().and_then(Value::as_object).cloned();
        let plain = plain.unwrap_or_default();
        assert_eq!(plain.get("max_tokens"), Some(&json!(32)));
        assert_eq!(plain.get("temperature"), Some(&json!(0.0)));
        assert_eq!(plain.get("top_p"), Some(&json!(0.9)));
        assert!(!plain.contains_key("max_completion_tokens"));
        cfg.reasoning = true;
        cfg.reasoning_tokens = 1000;
        let r = ChatClient::new(&cfg).map(|c| c.body(&[], &params));
        let r = r.as_ref().ok().and_then(Value::as_object).cloned();
        let r = r.unwrap_or_default();
        assert_eq!(r.get("max_completion_tokens"), Some(&json!(1032)));
        for absent in ["max_tokens", "temperature", "top_p"] {
            assert!(!r.contains_key(absent), "{absent}");
        }
        assert_eq!(r.get("stop"), Some(&json!(["\n\n"])));
    }

    #[test]
    fn replies_without_content_are_malformed_and_usage_is_read() {
        let ok = json!({"choices": [{"message": {"content": "hi"}}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 30,
                      "completion_tokens_details": {"reasoning_tokens": 28}}});
        let c = completion(&ok, 5, true);
        assert_eq!(c.as_ref().map(|c| c.answer_tokens()), Ok(Some(2)));
        assert_eq!(c.map(|c| c.prompt_tokens), Ok(Some(7)));
        let cut = json!({"choices": [{"message": {"content": ""}, "finish_reason": "length"}]});
        let e = completion(&cut, 0, true).err().unwrap_or_default();
        assert!(e.contains("reasoning_tokens"), "{e}");
        let e = completion(&json!({"error": "x"}), 0, false)
            .err()
            .unwrap_or_default();
        assert!(e.contains("malformed"), "{e}");
    }

    #[test]
    fn the_key_is_never_in_debug_output() {
        let var = "FINEFAIL_DATA_TEST_KEY_DEBUG";
        std::env::set_var(var, "sk-very-secret");
        let mut cfg = ChatApiConfig::new("http://h", "m");
        cfg.key_env = Some(var.into());
        let text = ChatClient::new(&cfg)
            .map(|c| format!("{c:?}"))
            .unwrap_or_default();
        assert!(
            text.contains("redacted") && !text.contains("sk-very-secret"),
            "{text}"
        );
    }
}
