//! On-disk judgment cache: one small JSON file per judgment, named by its content hash.
//!
//! Key = sha256 of the JSON array `[judge model, prompt version, question, references, answer,
//! repeat]`, so a re-run with the same inputs costs no request, while a new prompt version, model or
//! repeat index asks again. Files are written atomically (unique temporary name, rename), so
//! concurrent workers and interrupted runs never leave a torn entry. Failures are not cached.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::prompt::Judgment;
use crate::ScoreError;

/// A directory of cached judgments.
#[derive(Debug, Clone)]
pub struct JudgeCache {
    dir: PathBuf,
}

/// The content hash that names a judgment.
pub fn cache_key(
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

impl JudgeCache {
    /// The default cache folder: `$FINEFAIL_CACHE/judgments`, else `~/.cache/finefail/judgments`,
    /// shared by `finefail score` and the runner so a judgment is never paid for twice.
    pub fn default_dir() -> PathBuf {
        finefail_data::cache_root().join("judgments")
    }

    /// Opens (creating if needed) the cache directory.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, ScoreError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|e| ScoreError::io(&dir, e))?;
        Ok(JudgeCache { dir })
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }

    /// A cached judgment; a missing or unreadable entry is a miss (it will be asked again).
    pub fn get(&self, key: &str) -> Option<Judgment> {
        let text = std::fs::read_to_string(self.path(key)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Stores a judgment atomically (`finefail_data::atomic`).
    pub fn put(&self, key: &str, judgment: &Judgment) -> Result<(), ScoreError> {
        let path = self.path(key);
        let text =
            serde_json::to_string(judgment).map_err(|e| ScoreError::Internal(e.to_string()))?;
        finefail_data::atomic::write_file(&path, text.as_bytes())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_depends_on_every_field() {
        let refs = vec!["a".to_string()];
        let k = cache_key("m", "v1", "q", &refs, "ans", 0);
        assert_eq!(k.len(), 64);
        assert_eq!(k, cache_key("m", "v1", "q", &refs, "ans", 0));
        assert_ne!(k, cache_key("m2", "v1", "q", &refs, "ans", 0));
        assert_ne!(k, cache_key("m", "v2", "q", &refs, "ans", 0));
        assert_ne!(k, cache_key("m", "v1", "q2", &refs, "ans", 0));
        assert_ne!(k, cache_key("m", "v1", "q", &[], "ans", 0));
        assert_ne!(k, cache_key("m", "v1", "q", &refs, "ans2", 0));
        assert_ne!(k, cache_key("m", "v1", "q", &refs, "ans", 1));
    }

    #[test]
    fn round_trips_on_disk() -> Result<(), ScoreError> {
        let dir = tempfile::tempdir().map_err(|e| ScoreError::io("tmp", e))?;
        let cache = JudgeCache::open(dir.path().join("judge"))?;
        let j = Judgment {
            accuracy: 3,
            completeness: 4,
        };
        assert_eq!(cache.get("abc"), None);
        cache.put("abc", &j)?;
        assert_eq!(cache.get("abc"), Some(j));
        Ok(())
    }
}
