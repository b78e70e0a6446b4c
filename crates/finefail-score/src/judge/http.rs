//! The judge over any OpenAI-compatible `POST {base}/v1/chat/completions` (OpenAI, vLLM, Ollama,
//! llama.cpp server), with timeouts, bounded retries with exponential backoff and a preflight.

use std::time::Duration;

use serde_json::{json, Value};

use super::prompt::{
    judge_messages, parse_judgment, snippet, Judgment, JUDGE_PROMPT_VERSION, REASK,
};
use super::{Judge, JudgeConfig, JudgeItem};
use crate::ScoreError;

/// An OpenAI-compatible chat-completions judge. The API key lives only in memory and in the
/// `Authorization` header: it is never logged, formatted or put in an error.
pub struct HttpJudge {
    agent: ureq::Agent,
    url: String,
    endpoint: String,
    model: String,
    key: Option<String>,
    max_retries: u32,
    backoff: Duration,
}

/// What one HTTP exchange came to.
enum Reply {
    Ok(Value),
    /// Worth retrying: 429, 5xx, timeout, connection trouble.
    Transient(String),
    /// Retrying will not help: other 4xx.
    Fatal(u16, String),
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

impl HttpJudge {
    /// Builds the client; reads the key from the environment variable *named* by `key_env`.
    ///
    /// Bad input when `key_env` names a variable that is unset or empty.
    pub fn new(cfg: &JudgeConfig) -> Result<Self, ScoreError> {
        let key = match &cfg.key_env {
            Some(var) => match std::env::var(var) {
                Ok(k) if !k.trim().is_empty() => Some(k.trim().to_owned()),
                _ => {
                    return Err(ScoreError::JudgeUnavailable(format!(
                        "judge key: environment variable {var} is not set"
                    )))
                }
            },
            None => None,
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(cfg.timeout))
            .http_status_as_error(false)
            .build()
            .into();
        Ok(HttpJudge {
            agent,
            url: cfg.url.clone(),
            endpoint: chat_endpoint(&cfg.url),
            model: cfg.model.clone(),
            key,
            max_retries: cfg.max_retries,
            backoff: cfg.backoff,
        })
    }

    fn post(&self, messages: &[Value], max_tokens: u32) -> Reply {
        let body = json!({
            "model": self.model,
            "messages": messages,
            "temperature": 0,
            "max_tokens": max_tokens,
        })
        .to_string();
        let mut req = self
            .agent
            .post(&self.endpoint)
            .header("content-type", "application/json");
        if let Some(k) = &self.key {
            req = req.header("authorization", &format!("Bearer {k}"));
        }
        let resp = match req.send(body.as_str()) {
            Ok(r) => r,
            Err(e) => return Reply::Transient(transport_error(&e)),
        };
        let status = resp.status().as_u16();
        let text = match resp.into_body().read_to_string() {
            Ok(t) => t,
            Err(e) => return Reply::Transient(transport_error(&e)),
        };
        match status {
            200..=299 => match serde_json::from_str::<Value>(&text) {
                Ok(v) => Reply::Ok(v),
                Err(_) => Reply::Transient(format!(
                    "HTTP {status} with a body that is not JSON: {}",
                    snippet(&text)
                )),
            },
            429 | 500..=599 => Reply::Transient(format!("HTTP {status}")),
            _ => Reply::Fatal(status, snippet(&text)),
        }
    }

    /// Sleeps `backoff · 2^attempt` (capped at 2^6) before retry `attempt + 1`.
    fn wait(&self, attempt: u32) {
        std::thread::sleep(self.backoff * 2u32.pow(attempt.min(6)));
    }
}

fn transport_error(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(_) => "timed out".to_owned(),
        other => other.to_string(),
    }
}

fn content(v: &Value) -> Option<&str> {
    v.pointer("/choices/0/message/content")?.as_str()
}

impl Judge for HttpJudge {
    fn model(&self) -> &str {
        &self.model
    }

    fn preflight(&self) -> Result<(), ScoreError> {
        let messages = [json!({"role": "user", "content": "Reply with the word: ok"})];
        let mut last = String::new();
        for attempt in 0..=self.max_retries {
            match self.post(&messages, 5) {
                Reply::Ok(_) => return Ok(()),
                Reply::Fatal(401 | 403, _) => {
                    return Err(ScoreError::JudgeUnavailable(format!(
                        "judge at {} rejected the API key (check the key's environment variable)",
                        self.url
                    )))
                }
                Reply::Fatal(status, body) => {
                    return Err(ScoreError::JudgeUnavailable(format!(
                        "judge at {} answered HTTP {status} for model `{}`: {body}",
                        self.url, self.model
                    )))
                }
                Reply::Transient(why) => last = why,
            }
            if attempt < self.max_retries {
                self.wait(attempt);
            }
        }
        Err(ScoreError::JudgeUnavailable(format!(
            "judge at {} is unreachable: {last}",
            self.url
        )))
    }

    fn judge(&self, item: &JudgeItem<'_>) -> Result<Judgment, String> {
        let mut messages = judge_messages(item.question, item.references, item.answer);
        let first_len = messages.len();
        let mut last = String::new();
        for attempt in 0..=self.max_retries {
            match self.post(&messages, 32) {
                Reply::Ok(v) => match content(&v).map(parse_judgment) {
                    Some(Ok(j)) => return Ok(j),
                    Some(Err(why)) => {
                        // Re-ask: show the model its own reply and the format once more.
                        messages.truncate(first_len);
                        let said = content(&v).unwrap_or_default().to_owned();
                        messages.push(json!({"role": "assistant", "content": said}));
                        messages.push(json!({"role": "user", "content": REASK}));
                        last = why;
                        continue;
                    }
                    None => {
                        last = format!(
                            "reply without choices[0].message.content: {}",
                            snippet(&v.to_string())
                        )
                    }
                },
                Reply::Transient(why) => last = why,
                Reply::Fatal(status, body) => return Err(format!("HTTP {status}: {body}")),
            }
            if attempt < self.max_retries {
                self.wait(attempt);
            }
        }
        Err(format!(
            "judge {}@{JUDGE_PROMPT_VERSION} failed after {} attempts: {last}",
            self.model,
            self.max_retries + 1
        ))
    }
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
}
