//! The crate's error type: every fallible public function returns [`ScoreError`].

use std::path::PathBuf;

/// Why scoring, judging, statistics or table I/O failed.
///
/// The binary maps [`ScoreError::is_bad_input`] to exit code 2 and everything else to 1.
#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    /// The caller handed us something unusable (unknown metric, mismatched arms, bad config).
    #[error("{0}")]
    BadInput(String),
    /// The judge endpoint cannot be used at all (unreachable, key rejected or missing).
    #[error("{0}")]
    JudgeUnavailable(String),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A table could not be built, written or read.
    #[error("{path}: {message}")]
    Table {
        /// The table file involved.
        path: PathBuf,
        /// What went wrong (from polars or from our schema check).
        message: String,
    },
    /// Anything else that is our fault, not the user's.
    #[error("{0}")]
    Internal(String),
}

impl ScoreError {
    /// True when the user can fix this by changing inputs or configuration (exit code 2).
    pub fn is_bad_input(&self) -> bool {
        match self {
            ScoreError::BadInput(_)
            | ScoreError::JudgeUnavailable(_)
            | ScoreError::Table { .. } => true,
            ScoreError::Io { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied
            ),
            ScoreError::Internal(_) => false,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ScoreError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn table(path: impl Into<PathBuf>, message: impl std::fmt::Display) -> Self {
        ScoreError::Table {
            path: path.into(),
            message: message.to_string(),
        }
    }
}

/// The canonical tables and atomic writes are the data crate's: its I/O and table errors keep
/// their path, a bad record is bad input.
impl From<finefail_data::DataError> for ScoreError {
    fn from(e: finefail_data::DataError) -> Self {
        match e {
            finefail_data::DataError::Io { path, source } => ScoreError::Io { path, source },
            finefail_data::DataError::Table { path, message } => {
                ScoreError::Table { path, message }
            }
            e @ finefail_data::DataError::BadInput { .. } => ScoreError::BadInput(e.to_string()),
        }
    }
}

/// Atomic writes fail as the data crate's writes do.
impl From<finefail_core::AtomicError> for ScoreError {
    fn from(e: finefail_core::AtomicError) -> Self {
        finefail_data::DataError::from(e).into()
    }
}

/// A malformed arm name in a table is bad input.
impl From<finefail_core::BadArm> for ScoreError {
    fn from(e: finefail_core::BadArm) -> Self {
        ScoreError::BadInput(e.0)
    }
}
