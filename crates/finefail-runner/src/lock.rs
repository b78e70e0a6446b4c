//! One owner per run folder: `RUN/run.lock` ([`finefail_core::files::RUN_LOCK`]), held by
//! `finefail run` — local or as the Slurm submitter, which waits for its jobs — from before the
//! first step until it exits. A second run on the same folder stops at once with one line,
//! `run folder RUN is in use by pid N on HOST since TIME`, a user error (exit code 2). Read-only
//! commands (`--plan`, `--status`) and the Slurm jobs' `finefail step` take no lock.
//!
//! Why an OS lock and not only a pid file: ownership is an exclusive `flock` on the open lock file
//! (through `fs4`, already in the dependency tree through polars; std's `File::try_lock` needs
//! Rust 1.89, above the workspace's `rust-version`). The kernel drops it when its process ends,
//! however it ends — Ctrl-C, `kill -9`, the OOM killer — so a lock left by a
//! dead run is taken over by the next run without judging anything, and a reused pid can never make
//! a dead owner look alive. The file's text (pid, host, start time, as JSON) only names the owner in
//! the refusal. Where the filesystem cannot `flock` (some Lustre mounts), the text is the lock: a
//! lock naming a pid that is gone on this host is stale and taken over, one naming another host is
//! never judged from here (remove the file by hand when that run is gone).

use crate::error::{Result, RunnerError};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Who holds a run folder: what the lock file says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// The owning process.
    pub pid: u32,
    /// The host it runs on (`/proc/sys/kernel/hostname`).
    pub host: String,
    /// When it took the lock, UTC (`2026-12-07T18:55:02Z`).
    pub since: String,
}

impl Owner {
    /// This process, now.
    fn me() -> Self {
        Self {
            pid: std::process::id(),
            host: hostname(),
            since: utc_now(),
        }
    }
}

/// A held run-folder lock. Dropping it removes the file and releases the lock.
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
    /// Keeps the OS lock: closing the file releases it.
    _file: File,
}

impl RunLock {
    /// Takes the lock of `run_dir` (creating the folder), or fails with one line naming the owner.
    pub fn acquire(run_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(run_dir).map_err(RunnerError::io(run_dir))?;
        let path = finefail_core::RunLayout::new(run_dir).lock();
        // A run that releases the lock removes the file: if ours was unlinked between open and
        // flock, the lock is on an orphan, so open again (twice is enough unless runs race on).
        for _ in 0..8 {
            let mut file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(RunnerError::io(&path))?;
            match fs4::FileExt::try_lock(&file) {
                Ok(()) => {}
                Err(fs4::TryLockError::WouldBlock) => {
                    return Err(in_use(run_dir, read_owner(&mut file).as_ref()))
                }
                // No flock on this filesystem: the file's text is the lock.
                Err(fs4::TryLockError::Error(_)) => {
                    if let Some(owner) = read_owner(&mut file).filter(is_live) {
                        return Err(in_use(run_dir, Some(&owner)));
                    }
                }
            }
            if !same_file(&path, &file) {
                continue;
            }
            write_owner(&mut file, &Owner::me()).map_err(RunnerError::io(&path))?;
            return Ok(Self { path, _file: file });
        }
        Err(RunnerError::Step {
            message: format!(
                "could not take the lock {}: other runs keep taking it",
                path.display()
            ),
            bad_input: true,
        })
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Unlink first, then close (which releases the flock): a run that opened the old file
        // meanwhile sees it is no longer at the path and opens again.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The refusal: `run folder RUN is in use by pid N on HOST since TIME`.
fn in_use(run_dir: &Path, owner: Option<&Owner>) -> RunnerError {
    let who = match owner {
        Some(o) => format!("pid {} on {} since {}", o.pid, o.host, o.since),
        // The owner has opened the file and not written it yet.
        None => "another finefail run".to_string(),
    };
    RunnerError::Step {
        message: format!("run folder {} is in use by {who}", run_dir.display()),
        bad_input: true,
    }
}

/// Whether the owner a lock file names may still run: alive on this host, or on another host
/// (which cannot be checked from here).
fn is_live(owner: &Owner) -> bool {
    owner.host != hostname() || pid_alive(owner.pid)
}

fn read_owner(file: &mut File) -> Option<Owner> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

fn write_owner(file: &mut File, owner: &Owner) -> std::io::Result<()> {
    file.set_len(0)?;
    file.rewind()?;
    file.write_all(serde_json::to_string(owner).unwrap_or_default().as_bytes())?;
    file.sync_all()
}

/// Whether the path still names the file we hold open (same device and inode).
fn same_file(path: &Path, file: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(path), file.metadata()) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// This host's name (`/proc/sys/kernel/hostname`, else `$HOSTNAME`).
pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| std::env::var("HOSTNAME").unwrap_or_default())
}

/// Whether a process `pid` exists on this host.
pub(crate) fn pid_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

/// Now as `YYYY-MM-DDTHH:MM:SSZ`.
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    utc(secs)
}

/// Seconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ` (Hinnant's civil-from-days).
fn utc(secs: u64) -> String {
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::UserFault;

    #[test]
    fn a_held_lock_refuses_a_second_owner_naming_the_first() {
        let tmp = tempfile::tempdir().unwrap();
        let run = tmp.path().join("run");
        let lock = RunLock::acquire(&run).unwrap();
        let path = finefail_core::RunLayout::new(&run).lock();
        let owner: Owner = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(
            (owner.pid, owner.host.clone()),
            (std::process::id(), hostname())
        );
        // flock belongs to an open file, so a second open in this process is refused too.
        let err = RunLock::acquire(&run).unwrap_err();
        assert!(err.is_user_fault());
        assert_eq!(
            err.to_string(),
            format!(
                "run folder {} is in use by pid {} on {} since {}",
                run.display(),
                owner.pid,
                owner.host,
                owner.since
            )
        );
        drop(lock);
        assert!(!path.exists());
        let _again = RunLock::acquire(&run).unwrap();
    }

    /// A file left by a dead run (no flock held) is taken over, whatever it says.
    #[test]
    fn a_lock_file_without_an_os_lock_is_taken_over() {
        let tmp = tempfile::tempdir().unwrap();
        let path = finefail_core::RunLayout::new(tmp.path()).lock();
        for text in [
            r#"{"pid":4999999,"host":"elsewhere","since":"2026-01-01T00:00:00Z"}"#,
            "garbled",
        ] {
            std::fs::write(&path, text).unwrap();
            let lock = RunLock::acquire(tmp.path()).unwrap();
            let owner: Owner =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            assert_eq!(owner.pid, std::process::id());
            drop(lock);
        }
    }

    /// Without flock the text decides: a pid gone on this host is stale, another host's is not.
    #[test]
    fn the_text_rule_judges_only_this_hosts_pids() {
        let owner = |pid, host: &str| Owner {
            pid,
            host: host.into(),
            since: utc(0),
        };
        assert!(!is_live(&owner(4_999_999, &hostname())));
        assert!(is_live(&owner(std::process::id(), &hostname())));
        assert!(is_live(&owner(4_999_999, "some-other-node")));
    }

    #[test]
    fn times_are_utc_iso_8601() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_796_670_902), "2026-12-07T19:15:02Z");
    }
}
