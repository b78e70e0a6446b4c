//! The LLM judge: rubric scores `accuracy` and `completeness` (1–5) per answer and repeat, cached,
//! run concurrently, with failures recorded as error rows (never a fake score).

pub mod cache;
pub mod http;
pub mod prompt;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use cache::{cache_key, JudgeCache};
use prompt::{Judgment, JUDGE_PROMPT_VERSION};

use crate::{Metric, ScoreError, ScoreRow};

/// The `[judge]` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct JudgeConfig {
    /// Base URL of an OpenAI-compatible server, with or without `/v1`.
    pub url: String,
    /// Model name sent in the request (and part of the cache key).
    pub model: String,
    /// Name of the environment variable holding the API key; `None` sends no key (local servers).
    pub key_env: Option<String>,
    /// Judgments per answer (judge variance needs ≥ 2).
    pub repeats: u32,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Whole-request timeout.
    pub timeout: Duration,
    /// Retries after the first attempt (429, 5xx, timeouts, malformed replies).
    pub max_retries: u32,
    /// First backoff; doubled at every retry (with jitter; a server's `Retry-After` wins).
    pub backoff: Duration,
    /// A reasoning-model endpoint (o1/o3-style): send `max_completion_tokens` instead of
    /// `max_tokens` and no `temperature`, which such endpoints reject.
    pub reasoning: bool,
    /// With `reasoning`: completion tokens allowed for hidden reasoning on top of the judgment's.
    pub reasoning_tokens: u32,
}

impl JudgeConfig {
    /// The defaults for a given endpoint and model: 1 repeat, 4 in flight, 60 s timeout, 4 retries
    /// from a 1 s backoff, a plain (non-reasoning) chat model.
    pub fn new(url: impl Into<String>, model: impl Into<String>) -> Self {
        JudgeConfig {
            url: url.into(),
            model: model.into(),
            key_env: None,
            repeats: 1,
            concurrency: 4,
            timeout: Duration::from_secs(60),
            max_retries: 4,
            backoff: Duration::from_secs(1),
            reasoning: false,
            reasoning_tokens: finefail_data::chat_api::DEFAULT_REASONING_TOKENS,
        }
    }
}

/// What the judge sees of one answer: never the arm.
#[derive(Debug, Clone, Copy)]
pub struct JudgeItem<'a> {
    /// The question.
    pub question: &'a str,
    /// The reference answers (empty: unanswerable).
    pub references: &'a [String],
    /// The answer to grade.
    pub answer: &'a str,
}

/// A judge: the HTTP client here, or a local model plugged in by the runner.
pub trait Judge: Sync {
    /// Model name (cache key and `judge` column).
    fn model(&self) -> &str;
    /// One request proving the judge is usable; `Err` is bad input naming the endpoint.
    fn preflight(&self) -> Result<(), ScoreError>;
    /// One judgment, retries included; `Err` is the reason it failed for good.
    fn judge(&self, item: &JudgeItem<'_>) -> Result<Judgment, String>;
}

/// One answer to judge, with where its rows go.
#[derive(Debug, Clone, PartialEq)]
pub struct JudgeRequest {
    /// Arm name (for the rows only; not shown to the judge).
    pub arm: String,
    /// Question id.
    pub question_id: String,
    /// Question text.
    pub question: String,
    /// Reference answers.
    pub references: Vec<String>,
    /// The answer.
    pub answer: String,
}

/// The `judge` column: model and prompt version.
pub fn judge_label(model: &str) -> String {
    format!("{model}@{JUDGE_PROMPT_VERSION}")
}

/// Judges every request `repeats` times and returns `accuracy` and `completeness` rows.
///
/// Cached judgments are reused; when anything is left to ask, one preflight runs first and its
/// failure (unreachable, key rejected) is returned as bad input before any judgment. A judgment that
/// fails after retries becomes two error rows (value `None`, `error` set). `progress(done, total)`
/// is called from worker threads after each judgment asked.
pub fn judge_answers(
    judge: &dyn Judge,
    requests: &[JudgeRequest],
    repeats: u32,
    concurrency: usize,
    cache: Option<&JudgeCache>,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Vec<ScoreRow>, ScoreError> {
    let model = judge.model().to_owned();
    let tasks: Vec<(usize, u32, String)> = requests
        .iter()
        .enumerate()
        .flat_map(|(i, r)| {
            let model = &model;
            (0..repeats).map(move |k| {
                let key = cache_key(
                    model,
                    JUDGE_PROMPT_VERSION,
                    &r.question,
                    &r.references,
                    &r.answer,
                    k,
                );
                (i, k, key)
            })
        })
        .collect();
    let mut results: Vec<Option<Result<Judgment, String>>> = tasks
        .iter()
        .map(|(_, _, key)| cache.and_then(|c| c.get(key)).map(Ok))
        .collect();
    let todo: Vec<usize> = (0..tasks.len()).filter(|&t| results[t].is_none()).collect();
    if !todo.is_empty() {
        judge.preflight()?;
        let next = AtomicUsize::new(0);
        let done = AtomicUsize::new(0);
        let answered: Mutex<Vec<(usize, Result<Judgment, String>)>> = Mutex::new(Vec::new());
        let cache_error: Mutex<Option<ScoreError>> = Mutex::new(None);
        std::thread::scope(|s| {
            for _ in 0..concurrency.clamp(1, todo.len()) {
                s.spawn(|| {
                    while let Some(&t) = todo.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let (i, _, key) = &tasks[t];
                        let r = &requests[*i];
                        let item = JudgeItem {
                            question: &r.question,
                            references: &r.references,
                            answer: &r.answer,
                        };
                        let outcome = judge.judge(&item);
                        if let (Ok(j), Some(c)) = (&outcome, cache) {
                            if let Err(e) = c.put(key, j) {
                                if let Ok(mut slot) = cache_error.lock() {
                                    slot.get_or_insert(e);
                                }
                            }
                        }
                        if let Ok(mut a) = answered.lock() {
                            a.push((t, outcome));
                        }
                        progress(done.fetch_add(1, Ordering::Relaxed) + 1, todo.len());
                    }
                });
            }
        });
        if let Some(e) = cache_error.into_inner().ok().flatten() {
            return Err(e);
        }
        let answered = answered
            .into_inner()
            .map_err(|_| ScoreError::Internal("a judge worker panicked".into()))?;
        for (t, outcome) in answered {
            results[t] = Some(outcome);
        }
    }
    let label = judge_label(&model);
    let mut rows = Vec::with_capacity(tasks.len() * 2);
    for ((i, k, _), outcome) in tasks.iter().zip(results) {
        let r = &requests[*i];
        let outcome = outcome.unwrap_or_else(|| Err("judgment missing (worker stopped)".into()));
        for metric in [Metric::Accuracy, Metric::Completeness] {
            let (value, error) = match &outcome {
                Ok(j) => (
                    Some(f64::from(if metric == Metric::Accuracy {
                        j.accuracy
                    } else {
                        j.completeness
                    })),
                    None,
                ),
                Err(e) => (None, Some(e.clone())),
            };
            rows.push(ScoreRow {
                arm: r.arm.clone(),
                question_id: r.question_id.clone(),
                metric,
                value,
                repeat: *k,
                judge: Some(label.clone()),
                error,
            });
        }
    }
    Ok(rows)
}
