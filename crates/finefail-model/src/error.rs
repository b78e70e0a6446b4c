//! Errors of the model crate. The binary maps [`ModelError::is_bad_input`] to exit code 2.

use std::path::PathBuf;

/// Everything that can go wrong while loading, converting or running a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The checkpoint or adapter is malformed, inconsistent or unsupported: the user's input is wrong.
    #[error("{path}: {message}")]
    BadInput { path: PathBuf, message: String },
    /// A device was asked for whose cargo feature was not compiled in.
    #[error("device `{device}` needs finefail built with `--features {feature}`")]
    DeviceUnavailable { device: String, feature: String },
    /// Anything else (a bug or an environment problem, not the user's input).
    #[error("{0}")]
    Other(String),
}

impl ModelError {
    /// Shorthand for a bad-input error about `path`.
    pub fn bad_input(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::BadInput {
            path: path.into(),
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

    /// True when the error is the user's to fix (exit code 2), false for internal failures (exit 1).
    pub fn is_bad_input(&self) -> bool {
        match self {
            Self::BadInput { .. } | Self::DeviceUnavailable { .. } => true,
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

/// The atomic writers' errors keep their path and kind.
impl From<finefail_core::AtomicError> for ModelError {
    fn from(e: finefail_core::AtomicError) -> Self {
        match e {
            finefail_core::AtomicError::Io { path, source } => Self::Io { path, source },
            finefail_core::AtomicError::Json { path, message } => Self::BadInput {
                path,
                message: format!("cannot serialise JSON: {message}"),
            },
        }
    }
}

/// Result alias of the model crate.
pub type Result<T> = std::result::Result<T, ModelError>;
