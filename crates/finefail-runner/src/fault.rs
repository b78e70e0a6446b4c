//! Whose fault an error is: the user's (bad input or configuration, exit code 2) or ours (exit 1).
//!
//! Every library crate keeps its own error type with its own `is_bad_input`; this is the one place
//! that reads them all, so a step's recorded fault and the binary's exit code are decided the same
//! way. One rule holds across crates: a missing or unreadable file is the user's to fix, whichever
//! crate met it and however that crate files the error.

use crate::error::RunnerError;
use finefail_core::AtomicError;
use finefail_data::DataError;
use finefail_model::ModelError;
use finefail_rag::RagError;
use finefail_report::ReportError;
use finefail_score::ScoreError;
use finefail_train::TrainError;
use std::error::Error;
use std::io::ErrorKind;

/// An error that knows whether the user can fix it by changing inputs or configuration.
pub trait UserFault {
    /// True when the user must fix something (exit code 2).
    fn is_user_fault(&self) -> bool;
}

/// A library crate's error type: its own `is_bad_input` decides the user's fault, and `?` turns it
/// into a [`RunnerError`] through [`RunnerError::from_library`]. One list of types for both.
macro_rules! library_errors {
    ($($t:ty),*) => {$(
        impl UserFault for $t {
            fn is_user_fault(&self) -> bool {
                self.is_bad_input()
            }
        }

        impl From<$t> for RunnerError {
            fn from(e: $t) -> Self {
                RunnerError::from_library(&e)
            }
        }
    )*};
}

library_errors!(
    AtomicError,
    DataError,
    ModelError,
    TrainError,
    RagError,
    ScoreError,
    ReportError
);

impl UserFault for RunnerError {
    fn is_user_fault(&self) -> bool {
        match self {
            RunnerError::Config { .. } | RunnerError::Set { .. } => true,
            RunnerError::Step { bad_input, .. } => *bad_input,
            RunnerError::Stopped { .. } | RunnerError::Interrupted(_) => false,
            RunnerError::Io { source, .. } => io_is_user_fault(source.kind()),
        }
    }
}

/// A file that is missing or may not be read or written: the user's to fix.
pub fn io_is_user_fault(kind: ErrorKind) -> bool {
    matches!(kind, ErrorKind::NotFound | ErrorKind::PermissionDenied)
}

/// Whose fault `err` is, from its whole source chain: a missing or unreadable file anywhere in it
/// is the user's; otherwise the first error of a finefail crate decides. `None` when the chain
/// holds neither (the caller decides; the binary says 1).
pub fn user_fault(err: &(dyn Error + 'static)) -> Option<bool> {
    let chain = || std::iter::successors(Some(err), |&e| e.source());
    let missing_file = chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io_is_user_fault(io.kind()))
    });
    if missing_file {
        return Some(true);
    }
    chain().find_map(known)
}

/// The verdict of a finefail crate's error type, if `e` is one.
fn known(e: &(dyn Error + 'static)) -> Option<bool> {
    fn verdict<T: UserFault + Error + 'static>(e: &(dyn Error + 'static)) -> Option<bool> {
        e.downcast_ref::<T>().map(UserFault::is_user_fault)
    }
    verdict::<RunnerError>(e)
        .or_else(|| verdict::<DataError>(e))
        .or_else(|| verdict::<ModelError>(e))
        .or_else(|| verdict::<TrainError>(e))
        .or_else(|| verdict::<RagError>(e))
        .or_else(|| verdict::<ScoreError>(e))
        .or_else(|| verdict::<ReportError>(e))
        .or_else(|| verdict::<AtomicError>(e))
}

impl RunnerError {
    /// A library crate's error met while running a step: its one-line text, and whose fault it is
    /// by [`user_fault`]. The one conversion every step uses (through `?`).
    /// A library's stop on request (Ctrl-C) becomes [`RunnerError::Stopped`], never a failure.
    pub fn from_library(e: &(dyn Error + 'static)) -> Self {
        if let Some(at) = stopped_at(e) {
            return RunnerError::Stopped { at };
        }
        RunnerError::Step {
            message: e.to_string(),
            bad_input: user_fault(e).unwrap_or(false),
        }
    }
}

/// Where a library's run stopped on request (the trainer's or answering's stop error), if `e`
/// is one.
fn stopped_at(e: &(dyn Error + 'static)) -> Option<String> {
    std::iter::successors(Some(e), |&e| e.source()).find_map(|e| {
        e.downcast_ref::<TrainError>()
            .and_then(TrainError::stopped_at)
            .or_else(|| e.downcast_ref::<RagError>().and_then(RagError::stopped_at))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_is_the_users_whatever_the_crate_says() {
        let missing = || std::io::Error::from(ErrorKind::NotFound);
        // The training crate files every I/O error as its own; a missing input is still the user's.
        let train = TrainError::io("data/qa.parquet", missing());
        assert!(!train.is_bad_input());
        assert_eq!(user_fault(&train), Some(true));
        assert!(RunnerError::from(train).is_user_fault());
        let full = TrainError::io("out", std::io::Error::from(ErrorKind::StorageFull));
        assert_eq!(user_fault(&full), Some(false));
        let bad = ScoreError::BadInput("unknown metric".into());
        assert_eq!(user_fault(&bad), Some(true));
        assert_eq!(user_fault(&std::fmt::Error), None);
    }

    /// A stop on request is neither a failure nor the user's fault: the engine tells it apart.
    #[test]
    fn a_stop_on_request_is_its_own_error() {
        let e = RunnerError::from(TrainError::Stopped { step: 4, total: 7 });
        assert!(!e.is_user_fault());
        match e {
            RunnerError::Stopped { at } => assert_eq!(at, "at step 4/7 (checkpoint kept)"),
            other => panic!("{other:?}"),
        }
        let e = RunnerError::from(RagError::Stopped {
            done: 24,
            total: 50,
        });
        assert_eq!(
            e.to_string(),
            "stopped at 24/50 questions (answered batches kept)"
        );
        assert!(matches!(
            RunnerError::from(TrainError::Interrupted { step: 2 }),
            RunnerError::Step { .. }
        ));
    }
}
