//! `RUN/.submit.lock`: one runner submits at a time, so two never queue the same step twice. The
//! lock is a file created with `create_new` holding `PID HOST`; a lock left by a dead process on this
//! host is stale and taken over, one from another host is reported (it may still be submitting).

use crate::error::{Result, RunnerError};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A held submission lock; dropping it removes the file.
#[derive(Debug)]
pub struct SubmitLock {
    path: PathBuf,
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| std::env::var("HOSTNAME").unwrap_or_default())
}

fn pid_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

impl SubmitLock {
    /// Takes the lock of `run_dir`, or says who holds it.
    pub fn acquire(run_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(run_dir).map_err(|e| RunnerError::Io {
            path: run_dir.to_path_buf(),
            source: e,
        })?;
        let path = run_dir.join(".submit.lock");
        let me = format!("{} {}", std::process::id(), hostname());
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    f.write_all(me.as_bytes()).map_err(|e| RunnerError::Io {
                        path: path.clone(),
                        source: e,
                    })?;
                    return Ok(Self { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = std::fs::read_to_string(&path).unwrap_or_default();
                    let mut words = holder.split_whitespace();
                    let pid = words.next().and_then(|p| p.parse::<u32>().ok());
                    let host = words.next().unwrap_or("");
                    let stale = match pid {
                        Some(pid) => host == hostname() && !pid_alive(pid),
                        None => true, // empty or garbled: its writer died mid-write
                    };
                    if !stale {
                        return Err(RunnerError::Step {
                            message: format!(
                                "another runner (pid {} on {}) is submitting this run; wait for it, or remove {} if it is gone",
                                pid.map(|p| p.to_string()).unwrap_or_default(),
                                if host.is_empty() { "?" } else { host },
                                path.display()
                            ),
                            bad_input: true,
                        });
                    }
                    let _ = std::fs::remove_file(&path);
                }
                Err(e) => return Err(RunnerError::Io { path, source: e }),
            }
        }
        Err(RunnerError::Step {
            message: format!("could not take the submission lock {}", path.display()),
            bad_input: true,
        })
    }
}

impl Drop for SubmitLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::UserFault;

    #[test]
    fn a_live_holder_blocks_and_a_dead_one_is_taken_over() {
        let tmp = tempfile::tempdir().unwrap();
        let lock = SubmitLock::acquire(tmp.path()).unwrap();
        let err = SubmitLock::acquire(tmp.path()).unwrap_err();
        assert!(
            err.is_user_fault() && err.to_string().contains("another runner"),
            "{err}"
        );
        drop(lock);
        assert!(!tmp.path().join(".submit.lock").exists());
        // A pid that cannot exist (above Linux's pid_max) on this host: stale.
        std::fs::write(
            tmp.path().join(".submit.lock"),
            format!("4999999 {}", hostname()),
        )
        .unwrap();
        let _again = SubmitLock::acquire(tmp.path()).unwrap();
        // Another host's lock is never judged stale from here.
        drop(_again);
        std::fs::write(tmp.path().join(".submit.lock"), "4999999 some-other-node").unwrap();
        assert!(SubmitLock::acquire(tmp.path()).is_err());
    }
}
