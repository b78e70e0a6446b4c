//! The LLM judge: rubric scores `accuracy` and `completeness` (1–5) per answer and repeat, asked
//! through the chat client's batch pipeline ([`finefail_data::chat_api::ask_all`]: cached
//! judgments reused, one preflight, a bounded pool of workers), with failures recorded as error rows
//! (never a fake score).

pub mod http;
pub mod prompt;

use finefail_data::chat_api::{ask_all, AskOptions, ChatApiConfig, ChatCache};
use prompt::{Judgment, JUDGE_PROMPT_VERSION};
use sha2::{Digest, Sha256};

use crate::{Metric, ScoreError, ScoreRow};

/// The `[judge]` settings: the endpoint's (shared with API models, defaults included) and the
/// judge's own.
#[derive(Debug, Clone, PartialEq)]
pub struct JudgeConfig {
    /// The endpoint: URL, model (also part of the cache key), key variable, timeout, retries,
    /// back-off, the reasoning option.
    pub api: ChatApiConfig,
    /// Judgments per answer (judge variance needs ≥ 2).
    pub repeats: u32,
    /// Requests in flight at once.
    pub concurrency: usize,
}

impl JudgeConfig {
    /// The defaults for a given endpoint and model: the chat client's ([`ChatApiConfig::new`]),
    /// 1 repeat, 4 in flight.
    pub fn new(url: impl Into<String>, model: impl Into<String>) -> Self {
        JudgeConfig {
            api: ChatApiConfig::new(url, model),
            repeats: 1,
            concurrency: 4,
        }
    }
}

/// The cache key of one judgment: sha256 of the JSON array `[judge model, prompt version, question,
/// references, answer, repeat]`, so a re-run with the same inputs costs no request, while a new
/// prompt version, model or repeat index asks again. (Unchanged since the judge's first cache, so
/// the judgments already on disk are still read.)
pub fn judgment_key(
    model: &str,
    prompt_version: &str,
    question: &str,
    references: &[String],
    answer: &str,
    repeat: u32,
) -> String {
    let payload = serde_json::json!([model, prompt_version, question, references, answer, repeat]);
    hex::encode(Sha256::digest(payload.to_string().as_bytes()))
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
/// is called after each judgment asked (`total` = judgments not in the cache).
pub fn judge_answers(
    judge: &dyn Judge,
    requests: &[JudgeRequest],
    repeats: u32,
    concurrency: usize,
    cache: Option<&ChatCache>,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Vec<ScoreRow>, ScoreError> {
    let model = judge.model().to_owned();
    let tasks: Vec<(usize, u32)> = (0..requests.len())
        .flat_map(|i| (0..repeats).map(move |k| (i, k)))
        .collect();
    let keys: Vec<String> = tasks
        .iter()
        .map(|&(i, k)| {
            let r = &requests[i];
            judgment_key(
                &model,
                JUDGE_PROMPT_VERSION,
                &r.question,
                &r.references,
                &r.answer,
                k,
            )
        })
        .collect();
    let opts = AskOptions {
        concurrency,
        stop_at_first_error: false,
    };
    let results = ask_all(
        &keys,
        cache,
        &opts,
        || judge.preflight(),
        |t| {
            let r = &requests[tasks[t].0];
            judge.judge(&JudgeItem {
                question: &r.question,
                references: &r.references,
                answer: &r.answer,
            })
        },
        &mut |a| {
            if !a.cached {
                progress(a.asked, a.to_ask);
            }
            Ok(())
        },
    )?;
    let label = judge_label(&model);
    let mut rows = Vec::with_capacity(tasks.len() * 2);
    for (&(i, k), outcome) in tasks.iter().zip(results) {
        let r = &requests[i];
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
                repeat: k,
                judge: Some(label.clone()),
                error,
            });
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judgment_key_depends_on_every_field() {
        let refs = vec!["a".to_string()];
        let k = judgment_key("m", "v1", "q", &refs, "ans", 0);
        assert_eq!(k.len(), 64);
        assert_eq!(k, judgment_key("m", "v1", "q", &refs, "ans", 0));
        assert_ne!(k, judgment_key("m2", "v1", "q", &refs, "ans", 0));
        assert_ne!(k, judgment_key("m", "v2", "q", &refs, "ans", 0));
        assert_ne!(k, judgment_key("m", "v1", "q2", &refs, "ans", 0));
        assert_ne!(k, judgment_key("m", "v1", "q", &[], "ans", 0));
        assert_ne!(k, judgment_key("m", "v1", "q", &refs, "ans2", 0));
        assert_ne!(k, judgment_key("m", "v1", "q", &refs, "ans", 1));
    }

    #[test]
    fn judgments_round_trip_through_the_shared_cache() -> Result<(), ScoreError> {
        let dir = tempfile::tempdir().map_err(|e| ScoreError::io("tmp", e))?;
        let cache = ChatCache::open(dir.path().join("judge"))?;
        let j = Judgment {
            accuracy: 3,
            completeness: 4,
        };
        assert_eq!(cache.get::<Judgment>("abc"), None);
        cache.put("abc", &j)?;
        assert_eq!(cache.get("abc"), Some(j));
        // An entry written by the judge's former cache (compact JSON) still reads.
        std::fs::write(
            dir.path().join("judge/old.json"),
            r#"{"accuracy":2,"completeness":5}"#,
        )
        .map_err(|e| ScoreError::io("old", e))?;
        assert_eq!(
            cache.get("old"),
            Some(Judgment {
                accuracy: 2,
                completeness: 5
            })
        );
        Ok(())
    }
}
