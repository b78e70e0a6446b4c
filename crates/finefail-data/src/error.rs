//! Errors of the data crate. The binary maps [`DataError::is_bad_input`] to exit code 2.

use std::path::PathBuf;

/// Everything that can go wrong while importing, preparing or reading QA tables.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The user's input is wrong: names the file, the record when there is one, and what to fix.
    #[error("{path}{}: {message}", record.as_ref().map(|r| format!(" ({r})")).unwrap_or_default())]
    BadInput {
        path: PathBuf,
        record: Option<String>,
        message: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A parquet table could not be written or read back.
    #[error("{path}: {message}")]
    Table { path: PathBuf, message: String },
}

impl DataError {
    /// A bad-input error about a whole file.
    pub fn bad_input(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::BadInput {
            path: path.into(),
            record: None,
            message: message.into(),
        }
    }

    /// A bad-input error about one record of a file (`line 12`, `record 3`, `question 5`…).
    pub fn bad_record(
        path: impl Into<PathBuf>,
        record: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::BadInput {
            path: path.into(),
            record: Some(record.into()),
            message: message.into(),
        }
    }

    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// Wraps a polars error with the table path it concerns.
    pub fn table(path: impl Into<PathBuf>, err: impl std::fmt::Display) -> Self {
        Self::Table {
            path: path.into(),
            message: err.to_string(),
        }
    }

    /// True when the user must fix something (exit code 2): bad records, missing or unreadable
    /// files, unwritable output. Internal failures are false (exit code 1).
    pub fn is_bad_input(&self) -> bool {
        match self {
            Self::BadInput { .. } | Self::Table { .. } => true,
            Self::Io { source, .. } => finefail_core::error::io_is_bad_input(source.kind()),
        }
    }
}

/// The atomic writers' errors keep their path and kind; a value that cannot be serialised is
/// filed as bad input, as the data crate's own JSON writer always did.
impl From<finefail_core::AtomicError> for DataError {
    fn from(e: finefail_core::AtomicError) -> Self {
        match e {
            finefail_core::AtomicError::Io { path, source } => Self::Io { path, source },
            finefail_core::AtomicError::Json { path, message } => {
                Self::bad_input(path, format!("cannot serialise JSON: {message}"))
            }
        }
    }
}

/// Result alias of the data crate.
pub type Result<T> = std::result::Result<T, DataError>;
