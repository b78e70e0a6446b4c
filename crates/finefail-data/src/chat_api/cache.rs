//! The one on-disk cache of chat answers, for the API answering arm and the LLM judge alike: one
//! small JSON file per answer, named by a content hash the caller chooses. Writes are atomic
//! (temporary name, rename), so concurrent workers and interrupted runs never leave a torn entry;
//! failures are never cached ([`super::ask::ask_all`] stores successes only).
//!
//! Two keys are in use, each in its own folder, both unchanged since their caches were first
//! written (so every entry already on disk is still read):
//! - answers (`<cache root>/api_answers`, a [`super::Completion`] each): [`cache_key`], the hash of
//!   the request body. The body holds the model name, the messages and the generation parameters,
//!   but neither the URL nor the key, so the same request to the same model is paid for once
//!   whichever host served it, and a new prompt, model or parameter asks again;
//! - judgments (`<cache root>/judgments`): the judge's own key over (judge model, prompt version,
//!   question, references, answer, repeat), which stays the same across the re-asks a judgment
//!   may take (`finefail-score`).

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{DataError, Result};

/// Bumped when what a cached answer means changes (its fields, or how the body is built).
pub const CACHE_VERSION: &str = "chat-cache-v1";

/// A directory of cached answers.
#[derive(Debug, Clone)]
pub struct ChatCache {
    dir: PathBuf,
}

/// The content hash naming the completion of request `body` (see the module doc).
pub fn cache_key(body: &Value) -> String {
    let payload = serde_json::json!([CACHE_VERSION, body]);
    hex::encode(Sha256::digest(payload.to_string().as_bytes()))
}

impl ChatCache {
    /// The API answering arm's folder: `<cache root>/api_answers` (see [`finefail_core::cache_root`]),
    /// shared by every run so an answer is never paid for twice.
    pub fn default_answers_dir() -> PathBuf {
        finefail_core::cache_root().join("api_answers")
    }

    /// The judge's folder: `<cache root>/judgments`, shared by `finefail score` and the runner so
    /// a judgment is never paid for twice.
    pub fn default_judgments_dir() -> PathBuf {
        finefail_core::cache_root().join("judgments")
    }

    /// Opens (creating if needed) the cache directory.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|e| DataError::io(&dir, e))?;
        Ok(ChatCache { dir })
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }

    /// A cached answer; a missing or unreadable entry is a miss (it will be asked again).
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        let text = std::fs::read_to_string(self.path(key)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Stores an answer atomically.
    pub fn put<T: Serialize>(&self, key: &str, answer: &T) -> Result<()> {
        finefail_core::atomic::write_json(&self.path(key), answer)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::Completion;
    use super::*;

    #[test]
    fn round_trips_and_keys_follow_the_body() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| DataError::io("tmp", e))?;
        let cache = ChatCache::open(dir.path().join("c"))?;
        let body = serde_json::json!({"model": "m", "messages": [], "max_tokens": 8});
        let key = cache_key(&body);
        assert_eq!(key.len(), 64);
        let other = serde_json::json!({"model": "m", "messages": [], "max_tokens": 9});
        assert_ne!(key, cache_key(&other));
        assert_eq!(cache.get::<Completion>(&key), None);
        let c = Completion {
            content: "Paris".into(),
            prompt_tokens: Some(12),
            completion_tokens: None,
            reasoning_tokens: None,
            ms: 40,
        };
        cache.put(&key, &c)?;
        assert_eq!(cache.get(&key), Some(c));
        Ok(())
    }

    #[test]
    fn entries_written_before_the_shared_cache_are_still_read() -> Result<()> {
        // What the judge's own cache wrote (compact JSON), and an answer entry (pretty JSON).
        let dir = tempfile::tempdir().map_err(|e| DataError::io("tmp", e))?;
        let cache = ChatCache::open(dir.path())?;
        std::fs::write(
            dir.path().join("j.json"),
            r#"{"accuracy":3,"completeness":4}"#,
        )
        .map_err(|e| DataError::io("j", e))?;
        let j: Option<Value> = cache.get("j");
        assert_eq!(
            j,
            Some(serde_json::json!({"accuracy": 3, "completeness": 4}))
        );
        // The answer key of a fixed body is pinned: changing it would orphan every cached answer.
        let body = serde_json::json!({"model": "m", "messages": [], "max_tokens": 8});
        assert_eq!(
            cache_key(&body),
            hex::encode(Sha256::digest(
                r#"["chat-cache-v1",{"max_tokens":8,"messages":[],"model":"m"}]"#.as_bytes()
            ))
        );
        Ok(())
    }
}
