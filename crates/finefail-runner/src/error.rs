//! Errors of the runner crate. The binary maps [`RunnerError::is_bad_input`] to exit code 2.

use std::path::PathBuf;

/// What can go wrong while reading a config or planning a run.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// The config (or an override) is wrong: names the file, the key and the fix.
    #[error("{path}: {message}")]
    Config { path: PathBuf, message: String },
    /// A step's library call failed; `bad_input` says whose fault it is.
    #[error("{message}")]
    Step { message: String, bad_input: bool },
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

    /// True when the user must fix something (exit code 2).
    pub fn is_bad_input(&self) -> bool {
        match self {
            Self::Config { .. } => true,
            Self::Step { bad_input, .. } => *bad_input,
            Self::Io { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied
            ),
        }
    }
}

/// Result alias of the runner crate.
pub type Result<T> = std::result::Result<T, RunnerError>;
