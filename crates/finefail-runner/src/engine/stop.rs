//! A run stopped on request (Ctrl-C, SIGTERM): the engine hears the stop flag between steps, and a
//! long step (a fine-tune, answering) hears it at its own safe point and ends with
//! [`RunnerError::Stopped`]; that step is recorded `interrupted`, its scratch folder kept, and the
//! run ends with an [`Interruption`] — the one line the binary prints — so that rerunning the same
//! command continues where it stopped.

use crate::error::RunnerError;
use std::fmt;

/// How a run stopped on request: what finished in this execution and where it stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interruption {
    /// Steps that ran to the end in this execution (cached ones not counted).
    pub steps_done: usize,
    /// The step that stopped part-way, or the step that was next and did not start.
    pub step: String,
    /// Where the step stopped (`at step 4/7 (checkpoint kept)`); `None` when it did not start.
    pub at: Option<String>,
}

impl fmt::Display for Interruption {
    /// `interrupted: 5 steps done this run, finetune/pubmedqa/smollm2-135m/n50/s1 stopped at step
    /// 4/7 (checkpoint kept) — rerun the same command to continue`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.steps_done;
        let steps = if n == 1 { "step" } else { "steps" };
        write!(f, "interrupted: {n} {steps} done this run, ")?;
        match &self.at {
            Some(at) => write!(f, "{} stopped {at}", self.step)?,
            None => write!(f, "stopped before {}", self.step)?,
        }
        f.write_str(" — rerun the same command to continue")
    }
}

/// The error that ends a run stopped on request, `steps_done` steps having finished in it.
pub(super) fn interrupted(steps_done: usize, step: &str, at: Option<String>) -> RunnerError {
    RunnerError::Interrupted(Interruption {
        steps_done,
        step: step.to_string(),
        at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{execute, read_record, record_path, step_statuses, StepState, StepWork};
    use crate::error::Result;
    use crate::kind::StepKind;
    use crate::plan::{Plan, Step};
    use crate::progress::ProgressSink;
    use finefail_core::StopFlag;
    use std::path::Path;
    use std::sync::Mutex;

    /// a → b → c; `b` is a long step that polls the flag: once a stop is requested it keeps the
    /// half it did and ends with `RunnerError::Stopped`. `request_in` requests the stop while that
    /// step runs (before its safe point).
    struct Stoppable {
        stop: StopFlag,
        request_in: Option<&'static str>,
        runs: Mutex<Vec<String>>,
    }

    impl StepWork for Stoppable {
        fn config_slice(&self, _: &Step) -> Result<serde_json::Value> {
            Ok(serde_json::json!({}))
        }
        fn run(&self, step: &Step, _: &Path, scratch: &Path, _: ProgressSink) -> Result<()> {
            self.runs.lock().unwrap().push(step.id.clone());
            if self.request_in == Some(step.id.as_str()) {
                self.stop.request();
            }
            if step.id == "b" {
                let half = scratch.join("half");
                if !half.exists() {
                    std::fs::write(&half, "1").unwrap();
                }
                if self.stop.requested() {
                    return Err(RunnerError::Stopped {
                        at: "at 1/2 halves (kept)".into(),
                    });
                }
                let before = std::fs::read_to_string(&half).unwrap();
                std::fs::write(scratch.join("out"), format!("{before}2")).unwrap();
                return Ok(());
            }
            std::fs::write(scratch.join("out"), &step.id).unwrap();
            Ok(())
        }
        fn stop(&self) -> StopFlag {
            self.stop.clone()
        }
    }

    fn work(request_in: Option<&'static str>) -> Stoppable {
        Stoppable {
            stop: StopFlag::new(),
            request_in,
            runs: Mutex::new(vec![]),
        }
    }

    fn plan(dir: &Path) -> Plan {
        let step = |id: &str, kind: StepKind, deps: &[&str]| Step {
            id: id.into(),
            kind,
            deps: deps.iter().map(|d| d.to_string()).collect(),
            output: id.into(),
        };
        Plan {
            name: "stop".into(),
            run_dir: dir.to_path_buf(),
            steps: vec![
                step("a", StepKind::Prepare, &[]),
                step("b", StepKind::Finetune, &["a"]),
                step("c", StepKind::Answer, &["b"]),
            ],
            warnings: vec![],
        }
    }

    /// A step that stops on request is recorded `interrupted` (not failed), keeps its scratch
    /// work, and the run ends with the line naming it; the rerun resumes it and finishes.
    #[test]
    fn a_step_stopped_on_request_is_recorded_interrupted_and_resumes() {
        let tmp = tempfile::tempdir().unwrap();
        let p = plan(tmp.path());
        let w = work(Some("b"));
        let err = execute(&p, &w, None, &mut |_| {}).unwrap_err();
        assert_eq!(
            err.to_string(),
            "interrupted: 1 step done this run, b stopped at 1/2 halves (kept) — rerun the same \
             command to continue"
        );
        assert_eq!(*w.runs.lock().unwrap(), vec!["a", "b"]);
        let rec = read_record(&record_path(tmp.path(), "b")).unwrap();
        assert_eq!(rec.state, StepState::Interrupted);
        assert_eq!(rec.error.as_deref(), Some("stopped at 1/2 halves (kept)"));
        assert!(rec.interrupted() && rec.wall_s.is_some());
        let statuses = step_statuses(&p, &work(None)).unwrap();
        assert_eq!(statuses[1].1.word(), "interrupted");
        assert!(!tmp.path().join("b").exists());

        let w = work(None);
        execute(&p, &w, None, &mut |_| {}).unwrap();
        assert_eq!(*w.runs.lock().unwrap(), vec!["b", "c"]);
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("b/out")).unwrap(),
            "12"
        );
    }

    /// A stop requested during a step that does not poll lets it finish (recorded done), and
    /// the next step does not start.
    #[test]
    fn a_stop_between_steps_finishes_the_running_one_and_starts_no_other() {
        let tmp = tempfile::tempdir().unwrap();
        let p = plan(tmp.path());
        let w = work(Some("a"));
        let err = execute(&p, &w, None, &mut |_| {}).unwrap_err();
        assert!(matches!(
            &err,
            RunnerError::Interrupted(Interruption { steps_done: 1, step, at: None }) if step == "b"
        ));
        assert_eq!(*w.runs.lock().unwrap(), vec!["a"]);
        let rec = read_record(&record_path(tmp.path(), "a")).unwrap();
        assert_eq!(rec.state, StepState::Done);
        assert!(read_record(&record_path(tmp.path(), "b")).is_none());
    }

    #[test]
    fn the_line_says_what_finished_where_it_stopped_and_how_to_continue() {
        let stopped = Interruption {
            steps_done: 5,
            step: "finetune/pubmedqa/smollm2-135m/n50/s1".into(),
            at: Some("at step 4/7 (checkpoint kept)".into()),
        };
        assert_eq!(
            stopped.to_string(),
            "interrupted: 5 steps done this run, finetune/pubmedqa/smollm2-135m/n50/s1 stopped at \
             step 4/7 (checkpoint kept) — rerun the same command to continue"
        );
        let between = Interruption {
            steps_done: 1,
            step: "retrieve/pubmedqa".into(),
            at: None,
        };
        assert_eq!(
            between.to_string(),
            "interrupted: 1 step done this run, stopped before retrieve/pubmedqa — rerun the same \
             command to continue"
        );
    }
}
