//! Atomic writes for the model crate's artefacts (safetensors, `.npy`, PEFT adapter and converted
//! checkpoint directories): a unique temporary name in the target's directory, fsync, rename,
//! fsync of the directory — so a crash never leaves a half-written file or directory in place.
//!
//! A small copy of `finefail_data::atomic`, the helper every other crate uses: this crate depends
//! on no crate of ours. Same naming (`.{name}.tmp-…`, which the data crate's sweep of stale
//! temporaries recognises), same guarantees; only the error type differs.

use crate::error::{ModelError, Result};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically: a fresh temporary file in `path`'s directory (created if
/// missing) is written and synced, renamed over `path`, and the directory synced.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = parent_dir(path);
    std::fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
    let prefix = temp_prefix(path);
    let mut tmp = builder(&prefix, 0o666)
        .tempfile_in(dir)
        .map_err(|e| ModelError::io(dir, e))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| ModelError::io(tmp.path(), e))?;
    tmp.persist(path)
        .map_err(|e| ModelError::io(path, e.error))?;
    sync_dir(dir)
}

/// A directory being written: files go into a temporary directory beside the target, and
/// [`StagedDir::commit`] syncs them and swaps the directory in, deleting an old one only once the
/// new one is in place. Dropped without a commit, it removes itself and the target is untouched.
pub struct StagedDir {
    staged: tempfile::TempDir,
    target: PathBuf,
}

impl StagedDir {
    /// Creates the temporary directory beside `target` (creating `target`'s parent if needed).
    pub fn new(target: &Path) -> Result<Self> {
        let parent = parent_dir(target);
        std::fs::create_dir_all(parent).map_err(|e| ModelError::io(parent, e))?;
        let prefix = temp_prefix(target);
        let staged = builder(&prefix, 0o777)
            .tempdir_in(parent)
            .map_err(|e| ModelError::io(parent, e))?;
        Ok(Self {
            staged,
            target: target.to_path_buf(),
        })
    }

    /// Where to write the files of the directory.
    pub fn path(&self) -> &Path {
        self.staged.path()
    }

    /// Syncs the finished directory and moves it into place, replacing an existing directory: the
    /// old one is renamed aside first and deleted only after the new one is in place (put back if
    /// the second rename fails). On error the staged directory is removed.
    pub fn commit(self) -> Result<()> {
        sync_tree(self.staged.path())?;
        let target = self.target;
        let parent = parent_dir(&target);
        let staged = self.staged.keep();
        let fail = |e: std::io::Error, staged: &Path| {
            let _ = std::fs::remove_dir_all(staged);
            ModelError::io(&target, e)
        };
        if !std::fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir()) {
            std::fs::rename(&staged, &target).map_err(|e| fail(e, &staged))?;
            return sync_dir(parent);
        }
        let prefix = temp_prefix(&target);
        let old = builder(&prefix, 0o777)
            .tempdir_in(parent)
            .map_err(|e| fail(e, &staged))?;
        std::fs::rename(&target, old.path()).map_err(|e| fail(e, &staged))?;
        if let Err(e) = std::fs::rename(&staged, &target) {
            let old = old.keep();
            let _ = std::fs::rename(&old, &target);
            return Err(fail(e, &staged));
        }
        sync_dir(parent)
    }
}

/// The directory `path` lives in (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// `.{name}.tmp-`: the prefix of the temporaries of `target`.
fn temp_prefix(target: &Path) -> String {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!(".{name}.tmp-")
}

/// A builder of temporary names `prefix` + random characters, with the mode an ordinary `create`
/// would use (`mode` before the umask; tempfile's own default for files is 0600).
fn builder(prefix: &str, mode: u32) -> tempfile::Builder<'_, 'static> {
    let mut b = tempfile::Builder::new();
    b.prefix(prefix);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        b.permissions(std::fs::Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = mode;
    b
}

/// Makes a rename (or creation) in `dir` durable.
fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| ModelError::io(dir, e))
}

/// Syncs a file, or every file and directory under a directory (and the directory itself).
fn sync_tree(path: &Path) -> Result<()> {
    if !path.is_dir() {
        return File::open(path)
            .and_then(|f| f.sync_all())
            .map_err(|e| ModelError::io(path, e));
    }
    for entry in std::fs::read_dir(path).map_err(|e| ModelError::io(path, e))? {
        sync_tree(&entry.map_err(|e| ModelError::io(path, e))?.path())?;
    }
    sync_dir(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn files_and_directories_are_replaced_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("w.bin");
        write_file(&file, b"one").unwrap();
        write_file(&file, b"two").unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"two");

        let dir = tmp.path().join("adapter");
        let first = StagedDir::new(&dir).unwrap();
        std::fs::write(first.path().join("a"), "1").unwrap();
        first.commit().unwrap();
        let second = StagedDir::new(&dir).unwrap();
        std::fs::write(second.path().join("b"), "2").unwrap();
        assert_eq!(names(&dir), vec!["a"]);
        second.commit().unwrap();
        assert_eq!(names(&dir), vec!["b"]);
        drop(StagedDir::new(&dir).unwrap());
        assert_eq!(names(tmp.path()), vec!["adapter", "w.bin"]);
    }
}
