//! How far the running step has come, in the step's own unit (chunks, training steps, questions,
//! judge calls), as the libraries report it through their callbacks. The binary draws it — a bar on
//! a terminal, periodic plain lines in a log; nothing here knows about the terminal.

/// One progress report of a running step. A step without a count yet (loading a model, writing a
/// table) reports a stage: `total` is `None` and `note` says what it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepProgress {
    /// What is counted ("chunks", "steps", "questions", "judge calls"); empty for a stage.
    pub unit: &'static str,
    /// Units done, including those a resumed step found already done.
    pub done: u64,
    /// Units in all; `None` while unknown.
    pub total: Option<u64>,
    /// What the step is doing now, or the latest figure worth seeing (e.g. `loss 1.234`).
    pub note: String,
}

impl StepProgress {
    /// A stage without a count: "loading the model".
    pub fn stage(note: impl Into<String>) -> Self {
        Self {
            unit: "",
            done: 0,
            total: None,
            note: note.into(),
        }
    }

    /// `done` of `total` `unit`s.
    pub fn count(unit: &'static str, done: usize, total: usize) -> Self {
        Self {
            unit,
            done: done as u64,
            total: Some(total as u64),
            note: String::new(),
        }
    }

    /// The same report with a note.
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = note.into();
        self
    }
}

/// Where a running step reports its progress. `Sync` because some steps report from worker
/// threads (the judge's concurrent requests).
pub type ProgressSink<'a> = &'a (dyn Fn(StepProgress) + Sync);
