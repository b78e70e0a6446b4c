//! The crate's error type: every fallible public function returns [`ReportError`].

use std::path::PathBuf;

use finefail_data::DataError;
use finefail_score::ScoreError;

/// Why a report could not be built or written.
///
/// The binary maps [`ReportError::is_bad_input`] to exit code 2 and everything else to 1.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The inputs do not fit together (an arm of an unknown dataset, an unreadable table, …).
    #[error("{0}")]
    BadInput(String),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A table could not be built, read or written.
    #[error("{path}: {message}")]
    Table {
        /// The table file involved.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Drawing a plot failed (our fault: the inputs were already checked).
    #[error("plot {name}: {message}")]
    Plot {
        /// The plot's file stem.
        name: String,
        /// What plotters or the PNG encoder said.
        message: String,
    },
    /// An error from the score crate (reading `comparison.json` / `scores.parquet`, attribution).
    #[error(transparent)]
    Score(#[from] ScoreError),
    /// An error from the data crate (reading `qa.parquet`, atomic writes).
    #[error(transparent)]
    Data(#[from] DataError),
}

impl ReportError {
    /// True when the user can fix this by changing inputs or configuration (exit code 2).
    pub fn is_bad_input(&self) -> bool {
        match self {
            ReportError::BadInput(_) | ReportError::Table { .. } => true,
            ReportError::Score(e) => e.is_bad_input(),
            ReportError::Data(e) => e.is_bad_input(),
            ReportError::Io { .. } | ReportError::Plot { .. } => false,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ReportError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn table(path: impl Into<PathBuf>, message: impl std::fmt::Display) -> Self {
        ReportError::Table {
            path: path.into(),
            message: message.to_string(),
        }
    }

    pub(crate) fn plot(name: &str, message: impl std::fmt::Display) -> Self {
        ReportError::Plot {
            name: name.to_owned(),
            message: message.to_string(),
        }
    }
}

/// Atomic writes fail as the data crate's writes do.
impl From<finefail_core::AtomicError> for ReportError {
    fn from(e: finefail_core::AtomicError) -> Self {
        finefail_data::DataError::from(e).into()
    }
}

/// A malformed arm name in a table is bad input.
impl From<finefail_core::BadArm> for ReportError {
    fn from(e: finefail_core::BadArm) -> Self {
        ReportError::BadInput(e.0)
    }
}
