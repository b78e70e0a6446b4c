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
            Self::Other(_) => false,
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

/// Result alias of the retrieval crate.
pub type Result<T> = std::result::Result<T, RagError>;
