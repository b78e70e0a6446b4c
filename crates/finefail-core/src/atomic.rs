//! Atomic writes: every artefact is written under a unique temporary name in its target's
//! directory, flushed to disk, and renamed into place, so a crash or a kill never leaves a
//! half-written file or directory where a reader (or the step cache) would take it for finished.
//!
//! The one helper of the workspace: every crate writes its artefacts through it. A file: [`write_with`] (and its
//! shorthands [`write_file`], [`write_json`]) — temporary file, fsync, rename, fsync of the
//! directory. A directory: [`StagedDir`] — a temporary directory in the parent, filled by the
//! caller, then swapped in by [`replace`], which moves an existing directory aside and deletes it
//! only once the new one is in place. Temporaries are named `.{name}.tmp-…` ([`temp_prefix`]) so
//! that a later run can sweep what a killed one left ([`remove_stale_temporaries`]).

use crate::error::AtomicError;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Result of the atomic writers.
pub type Result<T> = std::result::Result<T, AtomicError>;

/// The prefix of every temporary name created for a target called `name`: what
/// [`remove_stale_temporaries`] recognises.
pub fn temp_prefix(name: &str) -> String {
    format!(".{name}.tmp-")
}

/// Writes `path` atomically: `fill` writes the content into a fresh temporary file in `path`'s
/// directory (created if missing); the file is synced, renamed over `path`, and the directory
/// synced, so after a crash `path` holds either the old content or the whole new one. On any error
/// the temporary file is removed and `path` is untouched. `fill`'s own errors pass through as they
/// are, so a caller keeps its classification (a table that cannot be encoded, say).
pub fn write_with<E: From<AtomicError>>(
    path: &Path,
    fill: impl FnOnce(&mut File) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    let dir = parent_dir(path);
    std::fs::create_dir_all(dir).map_err(|e| AtomicError::io(dir, e))?;
    let prefix = temp_prefix_of(path);
    let mut tmp = builder(&prefix, 0o666)
        .tempfile_in(dir)
        .map_err(|e| AtomicError::io(dir, e))?;
    fill(tmp.as_file_mut())?;
    tmp.as_file_mut()
        .flush()
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| AtomicError::io(tmp.path(), e))?;
    tmp.persist(path)
        .map_err(|e| AtomicError::io(path, e.error))?;
    sync_dir(dir)?;
    Ok(())
}

/// Writes `bytes` to `path` atomically ([`write_with`]).
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    write_with(path, |f| {
        f.write_all(bytes).map_err(|e| AtomicError::io(path, e))
    })
}

/// Serialises `value` as pretty JSON with a final newline and writes it atomically.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| AtomicError::Json {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    text.push('\n');
    write_file(path, text.as_bytes())
}

/// A directory being written: files go into a temporary directory beside the target, and
/// [`StagedDir::commit`] syncs them and swaps the directory in ([`replace`]). Dropped without a
/// commit (an error on the way), it removes itself and the target is untouched.
pub struct StagedDir {
    staged: tempfile::TempDir,
    target: PathBuf,
}

impl StagedDir {
    /// Creates the temporary directory beside `target` (creating `target`'s parent if needed).
    pub fn new(target: &Path) -> Result<Self> {
        let parent = parent_dir(target);
        std::fs::create_dir_all(parent).map_err(|e| AtomicError::io(parent, e))?;
        let prefix = temp_prefix_of(target);
        let staged = builder(&prefix, 0o777)
            .tempdir_in(parent)
            .map_err(|e| AtomicError::io(parent, e))?;
        Ok(Self {
            staged,
            target: target.to_path_buf(),
        })
    }

    /// Where to write the files of the directory.
    pub fn path(&self) -> &Path {
        self.staged.path()
    }

    /// Moves the finished directory into place, synced, replacing an existing directory
    /// ([`replace`]). On error the staged directory is removed.
    pub fn commit(self) -> Result<()> {
        let staged = self.staged.keep();
        replace(&staged, &self.target).inspect_err(|_| {
            let _ = std::fs::remove_dir_all(&staged);
        })
    }
}

/// Moves a finished file or directory `from` to `to` (same file system), replacing what is there:
/// `from` (every file of it) is synced first and `to`'s directory after the rename. An existing
/// directory is first renamed aside and deleted only after the new one is in place (if the second
/// rename fails, the old one is put back), so `to` never loses its old content before the new
/// content is complete.
pub fn replace(from: &Path, to: &Path) -> Result<()> {
    let parent = parent_dir(to);
    std::fs::create_dir_all(parent).map_err(|e| AtomicError::io(parent, e))?;
    sync_tree(from)?;
    let existing_dir = std::fs::symlink_metadata(to).is_ok_and(|m| m.is_dir());
    if !existing_dir {
        std::fs::rename(from, to).map_err(|e| AtomicError::io(to, e))?;
        return sync_dir(parent);
    }
    // An empty temporary directory to rename the old one onto; dropping it deletes the old tree.
    let prefix = temp_prefix_of(to);
    let old = builder(&prefix, 0o777)
        .tempdir_in(parent)
        .map_err(|e| AtomicError::io(parent, e))?;
    std::fs::rename(to, old.path()).map_err(|e| AtomicError::io(to, e))?;
    if let Err(e) = std::fs::rename(from, to) {
        // Put the old directory back; if even that fails, keep it under its temporary name.
        let old = old.keep();
        let _ = std::fs::rename(&old, to);
        return Err(AtomicError::io(to, e));
    }
    sync_dir(parent)
}

/// Removes what killed writers left in `dir`: the temporaries ([`temp_prefix`]) of the targets
/// named in `names`, or of any target when `names` is empty. Best effort: a temporary that cannot
/// be removed is left for the next sweep.
pub fn remove_stale_temporaries(dir: &Path, names: &[&str]) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let prefixes: Vec<String> = names.iter().map(|n| temp_prefix(n)).collect();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let stale = if prefixes.is_empty() {
            name.starts_with('.') && name.contains(".tmp-")
        } else {
            prefixes.iter().any(|p| name.starts_with(p.as_str()))
        };
        if !stale {
            continue;
        }
        let path = entry.path();
        let _ = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
    }
}

/// The directory `path` lives in (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// [`temp_prefix`] of `target`'s file name.
fn temp_prefix_of(target: &Path) -> String {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    temp_prefix(&name)
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
        .map_err(|e| AtomicError::io(dir, e))
}

/// Syncs `path`: a file, or every file and directory under a directory (and the directory itself),
/// before it is renamed into place.
fn sync_tree(path: &Path) -> Result<()> {
    if !path.is_dir() {
        return File::open(path)
            .and_then(|f| f.sync_all())
            .map_err(|e| AtomicError::io(path, e));
    }
    for entry in std::fs::read_dir(path).map_err(|e| AtomicError::io(path, e))? {
        sync_tree(&entry.map_err(|e| AtomicError::io(path, e))?.path())?;
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
    fn a_file_is_replaced_whole_and_leaves_no_temporary() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("sub/a.json");
        write_json(&path, &serde_json::json!({"x": 1})).unwrap();
        write_file(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        assert_eq!(names(&tmp.path().join("sub")), vec!["a.json"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o600, 0o600);
        }
    }

    #[test]
    fn a_failed_fill_leaves_the_old_file() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("a.txt");
        write_file(&path, b"old").unwrap();
        let err = write_with(&path, |f| {
            f.write_all(b"half").unwrap();
            Err(AtomicError::Json {
                path: path.clone(),
                message: "cannot encode".into(),
            })
        })
        .unwrap_err();
        assert!(err.to_string().contains("cannot encode"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(names(tmp.path()), vec!["a.txt"]);
    }

    #[test]
    fn a_staged_directory_replaces_the_old_one_only_when_committed() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("out");
        let first = StagedDir::new(&target).unwrap();
        std::fs::write(first.path().join("a"), "1").unwrap();
        first.commit().unwrap();

        let second = StagedDir::new(&target).unwrap();
        std::fs::create_dir(second.path().join("plots")).unwrap();
        std::fs::write(second.path().join("plots/b"), "2").unwrap();
        // Not committed yet: the old directory is intact.
        assert_eq!(std::fs::read_to_string(target.join("a")).unwrap(), "1");
        second.commit().unwrap();
        assert!(!target.join("a").exists());
        assert_eq!(
            std::fs::read_to_string(target.join("plots/b")).unwrap(),
            "2"
        );

        let dropped = StagedDir::new(&target).unwrap();
        std::fs::write(dropped.path().join("c"), "3").unwrap();
        drop(dropped);
        assert_eq!(names(tmp.path()), vec!["out"]);
        assert_eq!(names(&target), vec!["plots"]);
    }

    #[test]
    fn stale_temporaries_are_swept_by_name() {
        let tmp = tempfile::tempdir().unwrap();
        for n in [".report.tmp-x1", ".other.tmp-y", "report", ".hidden"] {
            std::fs::create_dir(tmp.path().join(n)).unwrap();
        }
        remove_stale_temporaries(tmp.path(), &["report"]);
        assert_eq!(names(tmp.path()), vec![".hidden", ".other.tmp-y", "report"]);
        remove_stale_temporaries(tmp.path(), &[]);
        assert_eq!(names(tmp.path()), vec![".hidden", "report"]);
    }
}
