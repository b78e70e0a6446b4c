//! Atomic writes: every artefact goes to a temporary name in the same directory and is renamed
//! into place, so a crash never leaves a half-written file or directory behind.

use crate::error::{DataError, Result};
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` through a temporary sibling file and a rename.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_sibling(path);
    std::fs::write(&tmp, bytes).map_err(|e| DataError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        DataError::io(path, e)
    })
}

/// Serialises `value` as pretty JSON and writes it atomically.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| DataError::bad_input(path, format!("cannot serialise JSON: {e}")))?;
    text.push('\n');
    write_file(path, text.as_bytes())
}

/// A temporary name beside `path` (same directory, so the final rename is atomic).
pub fn temp_sibling(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let unique = format!(".{name}.tmp-{}-{}", std::process::id(), unique_counter());
    path.with_file_name(unique)
}

fn unique_counter() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// A directory being written: files go into a temporary sibling directory, and [`StagedDir::commit`]
/// renames it over the final one. Dropped without commit, it removes itself.
pub struct StagedDir {
    tmp: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl StagedDir {
    /// Creates the temporary directory beside `target` (creating `target`'s parent if needed).
    pub fn new(target: &Path) -> Result<Self> {
        if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| DataError::io(parent, e))?;
        }
        let tmp = temp_sibling(target);
        std::fs::create_dir(&tmp).map_err(|e| DataError::io(&tmp, e))?;
        Ok(Self {
            tmp,
            target: target.to_path_buf(),
            committed: false,
        })
    }

    /// Where to write the files of the directory.
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// Moves the finished directory into place, replacing an existing one.
    pub fn commit(mut self) -> Result<()> {
        if self.target.exists() {
            let old = temp_sibling(&self.target);
            std::fs::rename(&self.target, &old).map_err(|e| DataError::io(&self.target, e))?;
            std::fs::rename(&self.tmp, &self.target).map_err(|e| DataError::io(&self.target, e))?;
            let _ = std::fs::remove_dir_all(&old);
        } else {
            std::fs::rename(&self.tmp, &self.target).map_err(|e| DataError::io(&self.target, e))?;
        }
        self.committed = true;
        Ok(())
    }
}

impl Drop for StagedDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}
