//! The Slurm executor: hands the step graph to Slurm instead of growing a scheduler. Each pending
//! step becomes one `sbatch` job running `finefail step CONFIG --id ID` (the same step code as the
//! local executor), with `--dependency=afterok:…` edges from the graph. Steps already finished are
//! not submitted, nor are steps whose job is still queued or running, so resubmitting after a
//! failure submits only what is missing. The job id of each step is kept in
//! `steps/<id>/slurm.json`; state comes from `squeue` and the step's own `state.json`, not `sacct`.

pub mod cluster;
pub mod spec;

use crate::engine::{current_outputs, read_record, record_path, StepState, StepWork};
use crate::error::{Result, RunnerError};
use crate::fault::UserFault;
use crate::plan::Plan;
use cluster::JobState;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use spec::{build_specs, SlurmOptions, SubmitSpec};

/// `steps/<id>/slurm.json`: the step's latest Slurm job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub job_id: String,
    /// Seconds since the Unix epoch.
    pub submitted_at: u64,
}

/// The latest job recorded for a step, if any.
pub fn read_job(run_dir: &Path, id: &str) -> Option<JobRecord> {
    serde_json::from_str(
        &std::fs::read_to_string(spec::step_dir(run_dir, id).join("slurm.json")).ok()?,
    )
    .ok()
}

fn write_job(run_dir: &Path, id: &str, rec: &JobRecord) -> Result<()> {
    let path = spec::step_dir(run_dir, id).join("slurm.json");
    let text = serde_json::to_string_pretty(rec).unwrap_or_default();
    Ok(finefail_core::atomic::write_file(&path, text.as_bytes())?)
}

/// Where a job's output goes (`--output=…/slurm-%j.log`).
pub fn log_path(run_dir: &Path, id: &str, job_id: &str) -> PathBuf {
    spec::step_dir(run_dir, id).join(format!("slurm-{job_id}.log"))
}

/// The last `n` non-empty lines of a job's log (empty when it has none yet).
pub fn log_tail(path: &Path, n: usize) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}

/// What one submission did.
#[derive(Debug, Clone, Default)]
pub struct Submission {
    /// Step id → job id, for the jobs submitted now, in plan order.
    pub submitted: Vec<(String, String)>,
    /// Steps whose job from an earlier submission is still queued or running.
    pub queued: Vec<(String, String)>,
    /// Steps already finished.
    pub cached: Vec<String>,
}

impl Submission {
    /// Every job this run is waiting for (new and earlier ones).
    pub fn jobs(&self) -> BTreeMap<String, String> {
        self.submitted.iter().chain(&self.queued).cloned().collect()
    }
}

/// Submits every pending step of `plan` (within `opts.until`). `work` decides which steps are
/// finished (same input hashes as the local executor). The caller owns the run folder
/// ([`crate::lock::RunLock`]), so two submitters never queue the same step twice. Jobs blocked
/// forever behind a failed dependency are cancelled and submitted afresh.
pub fn submit(plan: &Plan, work: &dyn StepWork, opts: &SlurmOptions) -> Result<Submission> {
    let queue = cluster::queue()?;
    let current: BTreeSet<String> = current_outputs(plan, work)?.into_keys().collect();
    let mut live = BTreeMap::new();
    let mut resubmit: BTreeSet<&str> = BTreeSet::new();
    let mut cancel = Vec::new();
    let mut out = Submission::default();
    // Plan order is topological: a queued job is kept only when none of its dependencies is
    // submitted afresh (its `afterok` edge would point at a job that failed or was cancelled).
    for step in plan.until(opts.until) {
        if current.contains(&step.id) {
            out.cached.push(step.id.clone());
            continue;
        }
        let job = read_job(&plan.run_dir, &step.id);
        let state = job.as_ref().and_then(|j| queue.get(&j.job_id));
        let deps_ok = step.deps.iter().all(|d| !resubmit.contains(d.as_str()));
        match (job, state) {
            (Some(job), Some(s)) if s.is_active() && deps_ok => {
                live.insert(step.id.clone(), job.job_id.clone());
                out.queued.push((step.id.clone(), job.job_id));
            }
            (Some(job), Some(s)) if s.is_active() || s.is_blocked() => {
                cancel.push(job.job_id);
                resubmit.insert(&step.id);
            }
            _ => {
                resubmit.insert(&step.id);
            }
        }
    }
    cluster::scancel(&cancel)?;
    let mut job_ids = live.clone();
    for s in build_specs(plan, opts, &current, &live) {
        let dir = spec::step_dir(&plan.run_dir, &s.step_id);
        std::fs::create_dir_all(&dir).map_err(|e| RunnerError::Io {
            path: dir.clone(),
            source: e,
        })?;
        let id = cluster::sbatch(&s.command(&job_ids)).map_err(|e| RunnerError::Step {
            message: format!(
                "step `{}` was not submitted ({} submitted before it, kept): {e}",
                s.step_id,
                out.submitted.len()
            ),
            bad_input: e.is_user_fault(),
        })?;
        write_job(
            &plan.run_dir,
            &s.step_id,
            &JobRecord {
                job_id: id.clone(),
                submitted_at: now(),
            },
        )?;
        job_ids.insert(s.step_id.clone(), id.clone());
        out.submitted.push((s.step_id, id));
    }
    Ok(out)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// One step's state for `run --status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepStatus {
    pub id: String,
    /// cached (finished, not by a Slurm job), done (finished by its Slurm job), pending (not
    /// submitted, or queued), running, failed.
    pub state: String,
    pub job_id: Option<String>,
    pub log: Option<PathBuf>,
    /// The job's Slurm state and reason, when `squeue` still lists it.
    pub slurm: Option<String>,
    /// For failed steps: the last lines of the log (or the step's recorded error).
    pub tail: Vec<String>,
}

/// Every step's state, from `squeue` (when `queue` is given) and the step's marker files.
pub fn status(
    plan: &Plan,
    work: &dyn StepWork,
    queue: Option<&BTreeMap<String, JobState>>,
) -> Result<Vec<StepStatus>> {
    let current = current_outputs(plan, work)?;
    let mut out = Vec::new();
    for step in &plan.steps {
        let job = read_job(&plan.run_dir, &step.id);
        let log = job
            .as_ref()
            .map(|j| log_path(&plan.run_dir, &step.id, &j.job_id));
        let js = job
            .as_ref()
            .and_then(|j| queue.and_then(|q| q.get(&j.job_id)));
        let record = read_record(&record_path(&plan.run_dir, &step.id));
        let state = if current.contains_key(&step.id) {
            if job.is_some() {
                "done"
            } else {
                "cached"
            }
        } else if let Some(s) = js.filter(|s| s.is_active()) {
            if s.state == "PENDING" {
                "pending"
            } else {
                "running"
            }
        } else if js.is_some_and(JobState::is_blocked) {
            "pending"
        } else if job.is_some()
            && queue.is_some()
            && record.as_ref().is_none_or(|r| r.state != StepState::Done)
        {
            // The job has ended without an output: it failed, was cancelled or timed out. (A done
            // record with other inputs is merely out of date: pending.)
            "failed"
        } else if record
            .as_ref()
            .is_some_and(|r| r.state == StepState::Failed)
        {
            "failed"
        } else {
            "pending"
        };
        let mut tail = Vec::new();
        if state == "failed" {
            tail = log.as_deref().map(|l| log_tail(l, 5)).unwrap_or_default();
            if tail.is_empty() {
                tail.extend(record.as_ref().and_then(|r| r.error.clone()));
            }
        }
        out.push(StepStatus {
            id: step.id.clone(),
            state: state.into(),
            job_id: job.map(|j| j.job_id),
            log,
            slurm: js.map(|s| {
                if s.reason.is_empty() || s.reason == "None" {
                    s.state.clone()
                } else {
                    format!("{} ({})", s.state, s.reason)
                }
            }),
            tail,
        });
    }
    Ok(out)
}

/// Progress while waiting: a step finished, or a periodic count.
#[derive(Debug, Clone)]
pub enum WaitEvent<'a> {
    Done {
        id: &'a str,
        job_id: &'a str,
    },
    Progress {
        done: usize,
        running: usize,
        pending: usize,
        total: usize,
    },
    /// Nothing runs and no queued job can start: Slurm's reason (a drained or down node, a
    /// partition that is down). Said once; the wait ends after [`UNSCHEDULABLE_GRACE`].
    Stalled {
        reason: &'a str,
        pending: usize,
    },
}

/// How long the submitter waits on jobs no node can take before it says so and stops waiting
/// (the jobs stay queued: a node back from draining still runs them).
pub const UNSCHEDULABLE_GRACE: Duration = Duration::from_secs(600);

/// Slurm's reason when the study cannot move: no job of `unfinished` runs, at least one is pending
/// because no node can take it ([`JobState::is_unschedulable`]), and every other one waits on a
/// dependency. `None` while anything runs or could start.
pub fn stalled<'s>(unfinished: &[&'s JobState]) -> Option<&'s str> {
    let mut reason = None;
    for j in unfinished {
        if j.is_unschedulable() {
            reason.get_or_insert(j.reason.as_str());
        } else if !j.waits_on_dependency() {
            return None;
        }
    }
    reason
}

/// Polls until every job of `jobs` (step id → job id) has finished. A failed job ends the wait with
/// an error naming the step, its job, its log and the log's last lines; jobs blocked behind it are
/// cancelled (resubmitting reruns them), and independent jobs keep running.
pub fn wait(
    plan: &Plan,
    work: &dyn StepWork,
    jobs: &BTreeMap<String, String>,
    poll: Duration,
    progress: &mut dyn FnMut(WaitEvent),
) -> Result<()> {
    let mut reported: BTreeSet<String> = BTreeSet::new();
    let mut last = (usize::MAX, usize::MAX);
    let mut stalled_since: Option<std::time::Instant> = None;
    loop {
        let queue = cluster::queue()?;
        let current = current_outputs(plan, work)?;
        let unfinished: Vec<&JobState> = jobs
            .iter()
            .filter(|(id, _)| !current.contains_key(*id))
            .filter_map(|(_, j)| queue.get(j))
            .collect();
        match stalled(&unfinished) {
            Some(reason) => {
                let since = *stalled_since.get_or_insert_with(|| {
                    progress(WaitEvent::Stalled {
                        reason,
                        pending: unfinished.len(),
                    });
                    std::time::Instant::now()
                });
                if since.elapsed() >= UNSCHEDULABLE_GRACE {
                    return Err(RunnerError::Step {
                        message: format!(
                            "Slurm cannot start the study's {} queued job(s) for {} min: {reason} (a drained or down node, or a partition that is down: see `sinfo -R`); they stay queued and run when a node comes back — or scancel them, fix the cluster and rerun",
                            unfinished.len(),
                            UNSCHEDULABLE_GRACE.as_secs() / 60
                        ),
                        bad_input: true,
                    });
                }
            }
            None => stalled_since = None,
        }
        let (mut running, mut pending) = (0, 0);
        let mut failed = None;
        for (id, job) in jobs {
            if current.contains_key(id) {
                if reported.insert(id.clone()) {
                    progress(WaitEvent::Done { id, job_id: job });
                }
                continue;
            }
            match queue.get(job) {
                Some(s) if s.is_active() && s.state == "PENDING" => pending += 1,
                Some(s) if s.is_active() => running += 1,
                Some(s) if s.is_blocked() => pending += 1,
                // Ended (or forgotten by squeue) without a current output. squeue was read before
                // the records, so a job that succeeded has its output counted above.
                other => {
                    // Name the step that failed, not a dependant Slurm cancelled because of it
                    // (`--kill-on-invalid-dep`): those are only reported when nothing else is.
                    let cancelled_behind = other.is_some_and(JobState::cancelled_by_dependency);
                    let replace = match &failed {
                        None => true,
                        Some((_, _, _, was_behind)) => *was_behind && !cancelled_behind,
                    };
                    if replace {
                        failed = Some((
                            id.clone(),
                            job.clone(),
                            other
                                .map(|s| s.state.clone())
                                .unwrap_or_else(|| "ENDED".into()),
                            cancelled_behind,
                        ));
                    }
                }
            }
        }
        if let Some((id, job, state, _)) = failed {
            let blocked: Vec<String> = jobs
                .values()
                .filter(|j| queue.get(*j).is_some_and(JobState::is_blocked))
                .cloned()
                .collect();
            let _ = cluster::scancel(&blocked);
            let log = log_path(&plan.run_dir, &id, &job);
            let mut message = format!("step `{id}` failed (Slurm job {job}, {state}; log {}); fix it and rerun to submit only what is missing", log.display());
            let mut tail = log_tail(&log, 5);
            if tail.is_empty() {
                tail.extend(read_record(&record_path(&plan.run_dir, &id)).and_then(|r| r.error));
            }
            for l in tail {
                message.push_str("\n  | ");
                message.push_str(&l);
            }
            return Err(RunnerError::Step {
                message,
                bad_input: true,
            });
        }
        if reported.len() == jobs.len() {
            return Ok(());
        }
        let blocked: Vec<&str> = jobs
            .iter()
            .filter(|(id, j)| {
                !current.contains_key(*id) && queue.get(*j).is_some_and(JobState::is_blocked)
            })
            .map(|(id, _)| id.as_str())
            .collect();
        if running == 0 && !blocked.is_empty() && blocked.len() == pending {
            return Err(RunnerError::Step {
                message: format!("Slurm can never start {} (a dependency's job ended without finishing; see --status); rerun to resubmit them", blocked.join(", ")),
                bad_input: true,
            });
        }
        if (running, pending) != last {
            last = (running, pending);
            progress(WaitEvent::Progress {
                done: reported.len(),
                running,
                pending,
                total: jobs.len(),
            });
        }
        std::thread::sleep(poll);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_study_stalls_only_when_nothing_runs_and_no_node_takes_a_job() {
        let job = |state: &str, reason: &str| JobState {
            state: state.into(),
            reason: reason.into(),
        };
        let drained = job(
            "PENDING",
            "Nodes required for job are DOWN, DRAINED or reserved for jobs in higher priority partitions",
        );
        let behind = job("PENDING", "Dependency");
        let running = job("RUNNING", "None");
        let busy = job("PENDING", "Resources");
        assert_eq!(stalled(&[&drained, &behind]), Some(drained.reason.as_str()));
        assert_eq!(stalled(&[&drained, &running]), None);
        assert_eq!(stalled(&[&drained, &busy]), None);
        assert_eq!(stalled(&[&behind]), None);
        assert_eq!(stalled(&[]), None);
    }
}
