//! Errors of the runner crate. Whose fault each one is lives in the `fault` module.

use std::path::PathBuf;

/// What can go wrong while reading a config, planning or running a run.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// The config (or an override) is wrong: names the file, the key and the fix.
    #[error("{path}: {message}")]
    Config { path: PathBuf, message: String },
    /// A `--set KEY=VALUE` is wrong (an unknown key, a bad value): names the `--set`, not the file.
    #[error("--set {spec}: {message}")]
    Set { spec: String, message: String },
    /// A step (or the Slurm executor) failed; `bad_input` says whose fault it is.
    #[error("{message}")]
    Step { message: String, bad_input: bool },
    /// A step stopped on request (Ctrl-C, SIGTERM) at a safe point, its work so far kept; `at`
    /// says where (`at step 4/7 (checkpoint kept)`). The engine records the step interrupted and
    /// ends the run with [`RunnerError::Interrupted`].
    #[error("stopped {at}")]
    Stopped { at: String },
    /// The run stopped on request: what finished, where it stopped, and that rerunning the same
    /// command continues (the binary prints it as its last line and exits 130 or 143).
    #[error("{0}")]
    Interrupted(crate::engine::Interruption),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl RunnerError {
    /// A config error about `path`.
    pub fn config(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::Config {
            path: path.into(),
            message: message.into(),
        }
    }

    /// An I/O error about `path`, for `map_err`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}

/// Result alias of the runner crate.
pub type Result<T> = std::result::Result<T, RunnerError>;
