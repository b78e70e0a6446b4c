//! Errors of the core crate. Each crate above converts them into its own error type, which decides
//! the exit code (a missing directory or a bad arm name is the user's to fix: exit 2).

use std::path::PathBuf;

/// A file or directory could not be written atomically (or a value not serialised for it).
#[derive(Debug, thiserror::Error)]
pub enum AtomicError {
    /// An I/O error on `path`.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A value could not be serialised as JSON for `path`.
    #[error("{path}: cannot serialise JSON: {message}")]
    Json {
        /// The file that was to be written.
        path: PathBuf,
        /// serde_json's message.
        message: String,
    },
}

impl AtomicError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// True when the user must fix something (exit code 2): an unwritable or missing place, or a
    /// value that cannot be serialised; the same I/O kinds the data crate files as bad input.
    pub fn is_bad_input(&self) -> bool {
        match self {
            Self::Json { .. } => true,
            Self::Io { source, .. } => io_is_bad_input(source.kind()),
        }
    }
}

/// The I/O failures a user fixes (a missing, unreadable or unwritable place, a file where a folder
/// belongs, malformed content): exit code 2 for the data and core crates' errors.
pub fn io_is_bad_input(kind: std::io::ErrorKind) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        kind,
        K::NotFound
            | K::PermissionDenied
            | K::ReadOnlyFilesystem
            | K::InvalidData
            | K::InvalidInput
            | K::IsADirectory
            | K::NotADirectory
            | K::AlreadyExists
    )
}

/// An arm name or a context name that does not follow the grammar; the message says what to write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadArm(pub String);
