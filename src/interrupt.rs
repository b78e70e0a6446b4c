//! Ctrl-C (SIGINT) and SIGTERM during `finefail run`, `finefail step` (a Slurm job, which
//! `scancel` or a time limit ends with SIGTERM), `finefail finetune` and `finefail answer`: the first one asks the run to stop at its next
//! safe point — the running fine-tune checkpoints after its optimizer step, answering after its
//! batch, any other step runs to its end — and the run ends with one line saying what finished
//! and that rerunning continues, exit code 128 + the signal (130 for SIGINT, 143 for SIGTERM, as
//! shells report a killed process). A second one exits at once with the same code.
//!
//! The handlers are signal-hook's (they only set atomics, or `_exit` on the second signal); the
//! libraries poll [`finefail_core::StopFlag::process`], which the first signal sets.

use finefail_core::StopFlag;
use finefail_runner::engine::Interruption;
use finefail_runner::RunnerError;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::flag;
use signal_hook::iterator::Signals;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// The signals that stop a run.
const SIGNALS: [i32; 2] = [SIGINT, SIGTERM];

/// The number of the last stop signal received (0: none), which the exit code reports.
fn received() -> Arc<AtomicUsize> {
    static RECEIVED: OnceLock<Arc<AtomicUsize>> = OnceLock::new();
    Arc::clone(RECEIVED.get_or_init(Arc::default))
}

/// Installs the handlers: the first SIGINT/SIGTERM sets the process's stop flag (and a notice says
/// so at once), a second one exits. Called by the commands that poll the flag, only (elsewhere
/// Ctrl-C keeps killing the process outright). A failure to install is a warning: the run goes on
/// with the default handlers.
pub fn install() {
    if let Err(e) = try_install() {
        eprintln!("warning: Ctrl-C will kill the run outright (no signal handler: {e})");
    }
}

fn try_install() -> std::io::Result<()> {
    let stop = StopFlag::process().atomic();
    let received = received();
    for sig in SIGNALS {
        // Registered first, so the first signal finds the flag unset and only the second exits.
        flag::register_conditional_shutdown(sig, 128 + sig, Arc::clone(&stop))?;
        flag::register_usize(sig, Arc::clone(&received), sig as usize)?;
        flag::register(sig, Arc::clone(&stop))?;
    }
    // The notice is printed from a thread of its own: a signal handler may not print.
    let mut signals = Signals::new(SIGNALS)?;
    std::thread::Builder::new()
        .name("finefail-signals".into())
        .spawn(move || {
            if let Some(sig) = signals.forever().next() {
                crate::progress::notice(&notice(sig));
            }
        })?;
    Ok(())
}

/// What the first signal's notice says: what happens now, and how to quit at once.
fn notice(sig: i32) -> String {
    let again = if sig == SIGTERM {
        "a second SIGTERM"
    } else {
        "Ctrl-C again"
    };
    format!(
        "stopping: the running fine-tune stops after its optimizer step (checkpointed), answering \
         after its batch, any other step at its end; {again} quits at once"
    )
}

/// The interruption that ended a run, if `err` is one: the line to print instead of an error.
pub fn interruption(err: &anyhow::Error) -> Option<&Interruption> {
    err.chain()
        .find_map(|e| match e.downcast_ref::<RunnerError>() {
            Some(RunnerError::Interrupted(i)) => Some(i),
            _ => None,
        })
}

/// The line for a standalone command stopped on request (`finefail finetune` after an optimizer
/// step with its checkpoint, `finefail answer` after a batch), if `err` is such a stop.
pub fn standalone_stop(err: &anyhow::Error) -> Option<String> {
    err.chain().find_map(|e| {
        if let Some(at) = e
            .downcast_ref::<finefail_train::TrainError>()
            .and_then(|t| t.stopped_at())
        {
            return Some(format!(
                "interrupted: training stopped {at} — rerun the same command with --resume to continue"
            ));
        }
        e.downcast_ref::<finefail_rag::RagError>()
            .and_then(|r| r.stopped_at())
            .map(|at| {
                format!("interrupted: answering stopped {at} — rerun the same command to continue")
            })
    })
}

/// The exit code of an interrupted run: 128 + the signal received (130 for SIGINT, 143 for
/// SIGTERM), 130 when the stop came without a signal.
pub fn exit_code() -> i32 {
    match received().load(Ordering::SeqCst) {
        0 => 128 + SIGINT,
        sig => 128 + sig as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interruption_is_found_in_the_chain_and_exits_128_plus_the_signal() {
        let i = Interruption {
            steps_done: 2,
            step: "answer/d/m/n0".into(),
            at: Some("at 4/6 questions (answered batches kept)".into()),
        };
        let err = anyhow::Error::from(RunnerError::Interrupted(i.clone()));
        assert_eq!(interruption(&err), Some(&i));
        let err = anyhow::Error::from(RunnerError::Interrupted(i.clone())).context("run");
        assert_eq!(interruption(&err), Some(&i));
        assert!(interruption(&anyhow::anyhow!("boom")).is_none());
        assert_eq!(exit_code(), 130);
        assert!(notice(SIGTERM).contains("a second SIGTERM"));
    }

    #[test]
    fn a_stopped_standalone_command_gets_its_line() {
        let err = anyhow::Error::from(finefail_train::TrainError::Stopped { step: 4, total: 7 })
            .context("finetune");
        let line = standalone_stop(&err).unwrap_or_default();
        assert!(
            line.starts_with("interrupted: training stopped at step 4/7"),
            "{line}"
        );
        assert!(line.ends_with("with --resume to continue"), "{line}");
        let err = anyhow::Error::from(finefail_rag::RagError::Stopped {
            done: 24,
            total: 50,
        });
        let line = standalone_stop(&err).unwrap_or_default();
        assert!(
            line.starts_with("interrupted: answering stopped at 24/50"),
            "{line}"
        );
        assert!(standalone_stop(&anyhow::anyhow!("boom")).is_none());
    }
}
