//! Talking to Slurm through its client tools (`sbatch`, `squeue`, `scancel`). Job state comes from
//! `squeue --states=all` (recently finished jobs stay listed for `MinJobAge`), never from `sacct`:
//! clusters without `slurmdbd` have no accounting. Every failure becomes one line naming the tool.

use crate::error::{Result, RunnerError};
use std::collections::BTreeMap;
use std::process::Command;

/// What `squeue` says about one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobState {
    /// PENDING, RUNNING, COMPLETING, COMPLETED, FAILED, CANCELLED, TIMEOUT, …
    pub state: String,
    /// Why a pending job waits (e.g. `Dependency`, `DependencyNeverSatisfied`).
    pub reason: String,
}

impl JobState {
    /// Queued or running: the job will still do something unless cancelled. (COMPLETING is not:
    /// a step's job writes its output before it exits, so a completing job without one is dying.)
    pub fn is_active(&self) -> bool {
        matches!(
            self.state.as_str(),
            "PENDING"
                | "RUNNING"
                | "CONFIGURING"
                | "SUSPENDED"
                | "REQUEUED"
                | "REQUEUE_HOLD"
                | "RESIZING"
                | "SIGNALING"
                | "STAGE_OUT"
        ) && !self.is_blocked()
    }

    /// Pending forever: a dependency failed (`afterok` can never be met).
    pub fn is_blocked(&self) -> bool {
        self.state == "PENDING" && self.reason.contains("DependencyNeverSatisfied")
    }

    /// Pending because no node can take it: the nodes it needs are drained or down, or its
    /// partition is down or inactive (`ReqNodeNotAvail`, "Nodes required for job are DOWN,
    /// DRAINED or reserved …", `PartitionDown`, `PartitionInactive`). Busy nodes (`Resources`,
    /// `Priority`) are not this: those jobs start once others finish.
    pub fn is_unschedulable(&self) -> bool {
        self.state == "PENDING"
            && [
                "ReqNodeNotAvail",
                "DRAINED",
                "DOWN",
                "PartitionDown",
                "PartitionInactive",
            ]
            .iter()
            .any(|r| self.reason.contains(r))
    }

    /// Cancelled by Slurm because a job it waited on failed (`--kill-on-invalid-dep=yes`): not a
    /// failure of its own.
    pub fn cancelled_by_dependency(&self) -> bool {
        self.state == "CANCELLED" && self.reason.contains("DependencyNeverSatisfied")
    }

    /// Pending behind another job of the study (`Dependency`): it can start once that one ends.
    pub fn waits_on_dependency(&self) -> bool {
        self.state == "PENDING" && self.reason == "Dependency"
    }
}

fn bad(message: String) -> RunnerError {
    RunnerError::Step {
        message,
        bad_input: true,
    }
}

/// Runs a Slurm client tool; a missing tool or an error answer becomes one line.
fn tool(name: &str, args: &[String]) -> Result<String> {
    let out = Command::new(name).args(args).output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            bad(format!("`{name}` not found on PATH: run on a Slurm login node, or start a local test cluster with scripts/slurm-local.sh start"))
        } else {
            bad(format!("could not run `{name}`: {e}"))
        }
    })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(bad(format!("{name} failed: {}", error_line(&stderr))));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The most telling line of a Slurm tool's error output (the last `error:` line, without the
/// tool's prefix), with a hint when the controller cannot be reached.
pub fn error_line(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let line = lines
        .iter()
        .rev()
        .find(|l| l.contains("error"))
        .or(lines.last())
        .copied()
        .unwrap_or("no error message");
    let line = line
        .split_once("error: ")
        .map(|(_, r)| r)
        .unwrap_or(line)
        .to_string();
    if line.contains("Unable to contact slurm controller") || line.contains("Connection refused") {
        format!("Slurm controller unreachable ({line}); is slurmctld running? (local test cluster: scripts/slurm-local.sh start)")
    } else {
        line
    }
}

/// Every job the controller knows, by id (finished ones only for `MinJobAge` seconds).
pub fn queue() -> Result<BTreeMap<String, JobState>> {
    let out = tool(
        "squeue",
        &[
            "--noheader".into(),
            "--states=all".into(),
            "--format=%i|%T|%r".into(),
        ],
    )?;
    Ok(parse_queue(&out))
}

/// Parses `squeue --format=%i|%T|%r` lines.
pub fn parse_queue(text: &str) -> BTreeMap<String, JobState> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.trim().splitn(3, '|');
            let id = it.next()?.trim().to_string();
            let state = it.next()?.trim().to_string();
            let reason = it.next().unwrap_or("").trim().to_string();
            (!id.is_empty()).then_some((id, JobState { state, reason }))
        })
        .collect()
}

/// Submits one job; returns its id (`sbatch --parsable` prints `ID` or `ID;CLUSTER`).
pub fn sbatch(args: &[String]) -> Result<String> {
    let out = tool("sbatch", args)?;
    let id = out
        .trim()
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad(format!(
            "sbatch printed no job id (got `{}`)",
            out.trim()
        )));
    }
    Ok(id)
}

/// Cancels jobs (ignores jobs that have already ended).
pub fn scancel(ids: &[String]) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    tool("scancel", ids).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squeue_lines_parse_and_blocked_jobs_are_not_active() {
        let q = parse_queue("12|RUNNING|None\n13|PENDING|Dependency\n14|PENDING|DependencyNeverSatisfied\n15|COMPLETED|None\n\n");
        assert_eq!(q.len(), 4);
        assert!(q["12"].is_active() && q["13"].is_active());
        assert!(!q["14"].is_active() && q["14"].is_blocked());
        assert!(!q["15"].is_active() && !q["15"].is_blocked());
    }

    #[test]
    fn drained_and_down_nodes_make_a_job_unschedulable() {
        // Reasons as squeue prints them (Slurm 22.05) for a drained node and a down partition.
        let q = parse_queue(
            "20|PENDING|Nodes required for job are DOWN, DRAINED or reserved for jobs in higher priority partitions\n21|PENDING|ReqNodeNotAvail, UnavailableNodes:node1\n22|PENDING|PartitionDown\n23|PENDING|Resources\n24|PENDING|Dependency\n",
        );
        assert!(
            q["20"].is_unschedulable() && q["21"].is_unschedulable() && q["22"].is_unschedulable()
        );
        assert!(!q["23"].is_unschedulable() && !q["24"].is_unschedulable());
        assert!(q["24"].waits_on_dependency() && !q["23"].waits_on_dependency());
        // What squeue showed for a dependant of a failed job with --kill-on-invalid-dep=yes.
        let q = parse_queue("60|CANCELLED|DependencyNeverSatisfied\n59|FAILED|NonZeroExitCode\n");
        assert!(q["60"].cancelled_by_dependency() && !q["59"].cancelled_by_dependency());
    }

    #[test]
    fn error_lines_are_short_and_name_the_cause() {
        // Real messages of Slurm 22.05 (sbatch with a wrong partition; squeue with slurmctld down).
        let part = "sbatch: error: invalid partition specified: nope\nsbatch: error: Batch job submission failed: Invalid partition name specified\n";
        assert_eq!(
            error_line(part),
            "Batch job submission failed: Invalid partition name specified"
        );
        let down = "slurm_load_jobs error: Unable to contact slurm controller (connect failure)\n";
        let line = error_line(down);
        assert!(
            line.starts_with("Slurm controller unreachable (Unable to contact slurm controller"),
            "{line}"
        );
        assert_eq!(error_line(""), "no error message");
    }
}
