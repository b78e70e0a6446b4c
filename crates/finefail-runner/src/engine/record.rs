//! A step's record, `steps/<id>/state.json`: what the engine knows about a step between runs —
//! its state, the input hash it ran under and the hash of what it produced. The JSON is part of the
//! on-disk contract: run folders written by earlier versions must still read, so field names,
//! their order and the state strings never change; a field added later is optional, written only
//! when set (`code_version`), so an older record reads and writes back byte for byte.

use crate::error::Result;
use crate::kind::StepKind;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

/// Where a step stands, as recorded (the strings are the contract: `running`, `failed`, `done`,
/// and since stop requests `interrupted`). A record left `running` by a process that is gone is an
/// interrupted step too; both rerun.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepState {
    /// Started and not finished: running now, or interrupted.
    Running,
    /// The step returned an error (recorded in the record's `error`); it reruns.
    Failed,
    /// The step stopped on request (Ctrl-C, SIGTERM) at a safe point, its work so far kept in its
    /// scratch folder; `error` says where (`stopped at step 4/7 (checkpoint kept)`). It reruns,
    /// resuming.
    Interrupted,
    /// The output is in place and hashed: cached while the input hash matches.
    Done,
}

impl StepState {
    /// The recorded string, as `--status` prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Running => "running",
            StepState::Failed => "failed",
            StepState::Interrupted => "interrupted",
            StepState::Done => "done",
        }
    }
}

impl fmt::Display for StepState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The record of one step in `steps/<id>/state.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub id: String,
    pub kind: String,
    pub state: StepState,
    pub input_hash: String,
    /// sha256 over the step's output files (names and bytes).
    pub output_hash: Option<String>,
    pub wall_s: Option<f64>,
    pub error: Option<String>,
    /// The code that made the output, `{finefail version}+{fingerprint}` (`code.rs`); absent in
    /// records written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_version: Option<String>,
    /// The process that ran the step and its host: a `running` record whose process is gone from
    /// this host was interrupted. Absent in records written before they were recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// The host of `pid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

impl StepRecord {
    /// The record of a step that starts running under `input_hash`.
    pub(super) fn running(id: &str, kind: StepKind, input_hash: &str) -> Self {
        Self {
            id: id.to_string(),
            kind: kind.as_str().to_string(),
            state: StepState::Running,
            input_hash: input_hash.to_string(),
            output_hash: None,
            wall_s: None,
            error: None,
            code_version: Some(super::code::code_version(kind)),
            pid: Some(std::process::id()),
            host: Some(crate::lock::hostname()),
        }
    }

    /// A step stopped on request, or a `running` record whose process is known to be gone: it ran
    /// on this host and its pid no longer exists. A running record from another host (a Slurm
    /// job's) or without a pid cannot be judged from here, and is not.
    pub fn interrupted(&self) -> bool {
        self.state == StepState::Interrupted
            || (self.state == StepState::Running
                && self.host.as_deref() == Some(crate::lock::hostname().as_str())
                && self.pid.is_some_and(|pid| !crate::lock::pid_alive(pid)))
    }
}

/// `steps/<id with / → __>/state.json`.
pub fn record_path(run_dir: &Path, id: &str) -> PathBuf {
    finefail_core::RunLayout::new(run_dir)
        .step(id)
        .join(finefail_core::files::STEP_STATE)
}

/// The recorded state of a step, if any (an unreadable record counts as none: the step reruns).
pub fn read_record(path: &Path) -> Option<StepRecord> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// Writes a record atomically (a killed run leaves the old record or the new one, never half).
pub(super) fn write_record(path: &Path, rec: &StepRecord) -> Result<()> {
    let text = serde_json::to_string_pretty(rec).unwrap_or_default();
    Ok(finefail_core::atomic::write_file(path, text.as_bytes())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_states_round_trip_the_recorded_strings() {
        for (state, text) in [
            (StepState::Running, "running"),
            (StepState::Failed, "failed"),
            (StepState::Interrupted, "interrupted"),
            (StepState::Done, "done"),
        ] {
            assert_eq!(state.as_str(), text);
            assert_eq!(state.to_string(), text);
            assert_eq!(
                serde_json::to_string(&state).unwrap(),
                format!("\"{text}\"")
            );
            assert_eq!(
                serde_json::from_str::<StepState>(&format!("\"{text}\"")).unwrap(),
                state
            );
        }
        assert!(serde_json::from_str::<StepState>("\"Done\"").is_err());
    }

    /// A running record is interrupted only when its process is gone from this host.
    #[test]
    fn a_running_record_whose_process_is_gone_here_was_interrupted() {
        let mut rec = StepRecord::running("prepare/d", StepKind::Prepare, "ab");
        assert_eq!(rec.pid, Some(std::process::id()));
        assert!(!rec.interrupted());
        rec.pid = Some(4_999_999);
        assert!(rec.interrupted());
        rec.host = Some("some-other-node".into());
        assert!(!rec.interrupted());
        rec.host = None;
        rec.pid = None;
        assert!(!rec.interrupted());
        rec.host = Some(crate::lock::hostname());
        rec.pid = Some(4_999_999);
        rec.state = StepState::Done;
        assert!(!rec.interrupted());
    }

    /// A record as the string-typed engine wrote it reads, and writes back byte for byte.
    #[test]
    fn a_record_written_before_the_enum_reads_and_writes_back_identically() {
        let old = r#"{
  "id": "finetune/pubmedqa/m/n50/s0",
  "kind": "finetune",
  "state": "done",
  "input_hash": "ab12",
  "output_hash": "cd34",
  "wall_s": 26.5,
  "error": null
}"#;
        let rec: StepRecord = serde_json::from_str(old).unwrap();
        assert_eq!(rec.state, StepState::Done);
        assert_eq!(serde_json::to_string_pretty(&rec).unwrap(), old);
        let tmp = tempfile::tempdir().unwrap();
        let path = record_path(tmp.path(), &rec.id);
        write_record(&path, &rec).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), old);
        assert_eq!(read_record(&path), Some(rec));
    }
}
