//! Atomic file writes: every artefact is written to a temporary file in its target directory, then renamed.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use crate::error::{RagError, Result};

/// Writes `path` through `write` into a temporary sibling file and renames it into place, so readers
/// never see a half-written file and an interrupted run leaves the previous version intact.
pub fn write_with(path: &Path, write: impl FnOnce(&mut File) -> std::io::Result<()>) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| RagError::io(dir, e))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(|e| RagError::io(dir, e))?;
    write(tmp.as_file_mut()).map_err(|e| RagError::io(path, e))?;
    tmp.as_file_mut()
        .flush()
        .map_err(|e| RagError::io(path, e))?;
    tmp.persist(path).map_err(|e| RagError::io(path, e.error))?;
    Ok(())
}

/// Writes `bytes` to `path` atomically.
pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    write_with(path, |f| f.write_all(bytes))
}
