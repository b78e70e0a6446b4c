//! Errors of the retrieval crate. The binary maps [`RagError::is_bad_input`] to exit code 2.

use std::path::PathBuf;

/// Everything that can go wrong while reading tables, loading the embedder or retrieving.
#[derive(Debug, thiserror::Error)]
pub enum RagError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The user's input is wrong: a malformed table, an empty corpus, a bad checkpoint, a bad option.
    #[error("{0}")]
    BadInput(String),
    /// Answering stopped on request (Ctrl-C, SIGTERM) after `done` of `total` questions, every
    /// finished batch kept: a rerun answers only the rest.
    #[error("answering stopped {}", stopped_text(*done, *total))]
    Stopped {
        /// Questions answered (and kept).
        done: usize,
        /// Questions of the test set.
        total: usize,
    },
    /// Anything else (a bug or an environment problem, not the user's input).
    #[error("{0}")]
    Other(String),
}

impl RagError {
    /// Shorthand for a bad-input error.
    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::BadInput(message.into())
    }

    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// Where answering stopped on request stands (`at 24/50 questions (answered batches kept)`),
    /// as the runner's interrupted line quotes it; `None` for every other error.
    pub fn stopped_at(&self) -> Option<String> {
        match self {
            Self::Stopped { done, total } => Some(stopped_text(*done, *total)),
            _ => None,
        }
    }

    /// True when the error is the user's to fix (exit code 2), false for internal failures (exit 1).
    pub fn is_bad_input(&self) -> bool {
        match self {
            Self::BadInput(_) => true,
            Self::Io { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::NotFound
                    | std::io::ErrorKind::PermissionDenied
                    | std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::InvalidData
            ),
            Self::Stopped { .. } | Self::Other(_) => false,
        }
    }
}

/// The canonical tables and atomic writes are the data crate's: its I/O errors keep their path and
/// kind; the rest (a malformed table, bad records) is the user's to fix, as the data crate says.
impl From<finefail_data::DataError> for RagError {
    fn from(e: finefail_data::DataError) -> Self {
        match e {
            finefail_data::DataError::Io { path, source } => Self::Io { path, source },
            e if e.is_bad_input() => Self::BadInput(e.to_string()),
            e => Self::Other(e.to_string()),
        }
    }
}

/// Atomic writes fail as the data crate's writes do.
impl From<finefail_core::AtomicError> for RagError {
    fn from(e: finefail_core::AtomicError) -> Self {
        finefail_data::DataError::from(e).into()
    }
}

/// Where stopped answering stands: `at 24/50 questions (answered batches kept)`.
fn stopped_text(done: usize, total: usize) -> String {
    format!("at {done}/{total} questions (answered batches kept)")
}

/// Result alias of the retrieval crate.
pub type Result<T> = std::result::Result<T, RagError>;
