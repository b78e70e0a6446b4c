//! Stop requests: how Ctrl-C (SIGINT) or SIGTERM reaches the loops that can stop cleanly.
//!
//! A [`StopFlag`] is a shared boolean. The binary's signal handler sets the process-wide one
//! ([`StopFlag::process`]); the long loops poll it at their safe points — the trainer between
//! optimizer steps (it checkpoints, then returns), answering between batches (every finished batch
//! is already a part file), the runner between steps — and end with an error that says where they
//! stopped, so that rerunning the same command continues from there. Nothing is cut mid-write.
//!
//! Libraries take a flag in their request rather than reading a global, so a test can stop one
//! run without touching others in the same process ([`StopFlag::new`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// A shared "please stop at the next safe point" flag; clones share it. Once requested it stays
/// requested: a stopped run is over, the next one starts in a new process.
#[derive(Debug, Clone, Default)]
pub struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    /// A flag of its own, never set by a signal: for tests and for callers that stop on their
    /// own terms.
    pub fn new() -> Self {
        Self::default()
    }

    /// The process-wide flag the binary's SIGINT/SIGTERM handler sets; what requests default to,
    /// so every loop of a `finefail run` hears a Ctrl-C without being wired to it by hand.
    pub fn process() -> Self {
        static PROCESS: OnceLock<StopFlag> = OnceLock::new();
        PROCESS.get_or_init(StopFlag::new).clone()
    }

    /// Asks every holder of this flag to stop at its next safe point.
    pub fn request(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// True once a stop was requested.
    pub fn requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// The shared boolean itself, for a signal handler to set (signal-hook's `flag::register`
    /// takes an `Arc<AtomicBool>`: setting it is all a handler may safely do).
    pub fn atomic(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_request_and_new_flags_are_apart() {
        let a = StopFlag::new();
        let b = a.clone();
        let other = StopFlag::new();
        assert!(!b.requested());
        a.request();
        assert!(b.requested());
        assert!(!other.requested());
        // The process flag is one flag however often it is asked for.
        let p = StopFlag::process();
        assert!(Arc::ptr_eq(&p.atomic(), &StopFlag::process().atomic()));
    }
}
