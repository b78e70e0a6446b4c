//! On-disk cache of chat completions: one small JSON file per request, named by the hash of the
//! request body. The body holds the model name, the messages and the generation parameters, but
//! neither the URL nor the key, so the same request to the same model is paid for once whichever
//! host served it, and a new prompt, model or parameter asks again. Writes are atomic (temp file,
//! rename); failures are never cached.

use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::Completion;
use crate::error::{DataError, Result};

/// Bumped when what a cached entry means changes (its fields, or how the body is built).
pub const CACHE_VERSION: &str = "chat-cache-v1";

/// A directory of cached completions.
#[derive(Debug, Clone)]
pub struct CompletionCache {
    dir: PathBuf,
}

/// The content hash naming the completion of `body` (see the module doc).
pub fn cache_key(body: &Value) -> String {
    let payload = serde_json::json!([CACHE_VERSION, body]);
    hex::encode(Sha256::digest(payload.to_string().as_bytes()))
}

impl CompletionCache {
    /// The API answering arm's cache folder: `<cache root>/api_answers` (see
    /// [`crate::cache_root`]), shared by every run so an answer is never paid for twice.
    pub fn default_answers_dir() -> PathBuf {
        crate::cache_root().join("api_answers")
    }

    /// Opens (creating if needed) the cache directory.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|e| DataError::io(&dir, e))?;
        Ok(CompletionCache { dir })
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }

    /// A cached completion; a missing or unreadable entry is a miss (it will be asked again).
    pub fn get(&self, key: &str) -> Option<Completion> {
        let text = std::fs::read_to_string(self.path(key)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Stores a completion atomically.
    pub fn put(&self, key: &str, completion: &Completion) -> Result<()> {
        crate::atomic::write_json(&self.path(key), completion)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_keys_follow_the_body() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| DataError::io("tmp", e))?;
        let cache = CompletionCache::open(dir.path().join("c"))?;
        let body = serde_json::json!({"model": "m", "messages": [], "max_tokens": 8});
        let key = cache_key(&body);
        assert_eq!(key.len(), 64);
        let other = serde_json::json!({"model": "m", "messages": [], "max_tokens": 9});
        assert_ne!(key, cache_key(&other));
        assert_eq!(cache.get(&key), None);
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
}
