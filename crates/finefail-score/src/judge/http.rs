//! The judge over any OpenAI-compatible `POST {base}/v1/chat/completions` (OpenAI, vLLM, Ollama,
//! llama.cpp server), through the chat client shared with the API answering arm
//! ([`finefail_data::chat_api`]: timeouts, `Retry-After`, back-off with jitter, bounded retries,
//! the reasoning-model option, a preflight). What is the judge's own: the rubric prompt and the
//! re-ask when a reply does not parse. Batches, cache and workers: [`super::judge_answers`].

use finefail_data::chat_api::{ChatApiError, ChatClient, ChatParams};
use serde_json::json;

use super::prompt::{judge_messages, parse_judgment, Judgment, JUDGE_PROMPT_VERSION, REASK};
use super::{Judge, JudgeConfig, JudgeItem};
use crate::ScoreError;

pub use finefail_data::chat_api::chat_endpoint;

/// Visible reply limit of one judgment: the JSON object needs about 20 tokens.
const JUDGMENT_TOKENS: u32 = 32;

/// An OpenAI-compatible chat-completions judge. The API key lives only inside the client: it is
/// never logged, formatted or put in an error.
#[derive(Debug)]
pub struct HttpJudge {
    client: ChatClient,
    max_retries: u32,
}

impl HttpJudge {
    /// Builds the client; reads the key from the environment variable *named* by `key_env`.
    ///
    /// Bad input when `key_env` names a variable that is unset or empty.
    pub fn new(cfg: &JudgeConfig) -> Result<Self, ScoreError> {
        let client = ChatClient::new(&cfg.api).map_err(unavailable)?;
        Ok(HttpJudge {
            client,
            max_retries: cfg.api.max_retries,
        })
    }
}

/// A judge that cannot be used at all: bad input, named as the judge's.
fn unavailable(e: ChatApiError) -> ScoreError {
    ScoreError::JudgeUnavailable(format!("judge: {e}"))
}

impl Judge for HttpJudge {
    fn model(&self) -> &str {
        self.client.model()
    }

    fn preflight(&self) -> Result<(), ScoreError> {
        self.client.preflight().map_err(unavailable)
    }

    /// Asks, and re-asks (showing the model its reply and the format again) while the reply does
    /// not parse, at most `max_retries` times; each ask is retried by the client on its own.
    fn judge(&self, item: &JudgeItem<'_>) -> Result<Judgment, String> {
        let mut messages = judge_messages(item.question, item.references, item.answer);
        let first_len = messages.len();
        let params = ChatParams::greedy(JUDGMENT_TOKENS);
        let label = format!("judge {}@{JUDGE_PROMPT_VERSION}", self.client.model());
        let mut last = String::new();
        for _ in 0..=self.max_retries {
            let reply = self
                .client
                .complete(&messages, &params)
                .map_err(|e| format!("{label} {e}"))?;
            match parse_judgment(&reply.content) {
                Ok(j) => return Ok(j),
                Err(why) => {
                    messages.truncate(first_len);
                    messages.push(json!({"role": "assistant", "content": reply.content}));
                    messages.push(json!({"role": "user", "content": REASK}));
                    last = why;
                }
            }
        }
        Err(format!(
            "{label} failed after {} attempts: {last}",
            self.max_retries + 1
        ))
    }
}
