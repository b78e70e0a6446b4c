//! Errors of the fine-tuning recipe: bad input (exit 2) is told apart from everything else.

use std::path::PathBuf;

/// Everything that can stop a fine-tuning run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The user must fix something: a setting, the data, the output path, a mismatched checkpoint.
    #[error("{}: {message}", path.display())]
    BadInput {
        /// The file, directory or setting concerned.
        path: PathBuf,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An error of the data crate.
    #[error(transparent)]
    Data(#[from] finefail_data::DataError),
    /// An error of the model crate.
    #[error(transparent)]
    Model(#[from] finefail_model::ModelError),
    /// An error of the retrieval crate.
    #[error(transparent)]
    Rag(#[from] finefail_rag::RagError),
    /// The run stopped on request after `step` (a testing aid standing in for a kill); resume it.
    #[error("training interrupted after step {step}")]
    Interrupted {
        /// The last completed optimizer step.
        step: usize,
    },
    /// The run stopped on request ([`crate::FinetuneRequest::stop`]: Ctrl-C, SIGTERM) after
    /// optimizer step `step` of `total`, that step checkpointed: resuming continues from it.
    #[error("training stopped {}", stopped_text(*step, *total))]
    Stopped {
        /// Optimizer steps done (and checkpointed).
        step: usize,
        /// Optimizer steps of the whole run.
        total: usize,
    },
    /// Anything else (a numeric failure, a corrupt checkpoint we wrote ourselves).
    #[error("{0}")]
    Other(String),
}

impl TrainError {
    /// A bad-input error about `path`.
    pub fn bad_input(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::BadInput {
            path: path.into(),
            message: message.into(),
        }
    }

    /// An I/O error about `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// Where a run stopped on request stands (`at step 4/7 (checkpoint kept)`), as the runner's
    /// interrupted line quotes it; `None` for every other error.
    pub fn stopped_at(&self) -> Option<String> {
        match self {
            Self::Stopped { step, total } => Some(stopped_text(*step, *total)),
            _ => None,
        }
    }

    /// True when the user must fix the input (exit code 2).
    pub fn is_bad_input(&self) -> bool {
        match self {
            Self::BadInput { .. } => true,
            Self::Data(e) => e.is_bad_input(),
            Self::Model(e) => e.is_bad_input(),
            Self::Rag(e) => e.is_bad_input(),
            Self::Io { .. } | Self::Interrupted { .. } | Self::Stopped { .. } | Self::Other(_) => {
                false
            }
        }
    }
}

/// Where a stopped run stands: `at step 4/7 (checkpoint kept)`.
fn stopped_text(step: usize, total: usize) -> String {
    if step == 0 {
        format!("before its first step (0/{total})")
    } else {
        format!("at step {step}/{total} (checkpoint kept)")
    }
}

/// Result with [`TrainError`].
pub type Result<T> = std::result::Result<T, TrainError>;

/// Atomic writes fail as the data crate's writes do.
impl From<finefail_core::AtomicError> for TrainError {
    fn from(e: finefail_core::AtomicError) -> Self {
        finefail_data::DataError::from(e).into()
    }
}
