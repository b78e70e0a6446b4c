//! Executing a plan: each step is a function of its inputs. A step's input hash covers its kind,
//! its slice of the config and the output hashes of the steps it reads; a finished step whose
//! recorded input hash matches is skipped. A step works in its scratch directory
//! `.<output>.partial-<hash>` (kept across crashes so long steps can resume inside) and is renamed
//! into place only when it succeeded, so a run killed at any moment never leaves a half-written
//! artefact and simply continues when rerun.
//!
//! [`execute_scope`] takes each step through named stages: 1. `select` the steps of the scope;
//! 2. check the cache (`current_output`, the one test [`current_outputs`] shares); 3. `run_step`
//! in scratch, its record `running`, then `failed` on an error; 4. `promote` the output into place;
//! 5. `record_done` with the output's hash. Records live in `record.rs`, hashes in `hash.rs`,
//! the code version every record carries (a step made by other code reruns) in `code.rs`.
//!
//! A stop request (Ctrl-C, [`StepWork::stop`]) is heard between steps, and inside the long ones at
//! their safe points: the step is recorded `interrupted` and the run ends with an [`Interruption`]
//! (`stop.rs`); rerunning continues.

mod code;
mod hash;
mod record;
mod stop;

pub use code::{code_version, recorded_code_version};
pub use hash::{hash_path, input_hash};
pub use record::{read_record, record_path, StepRecord, StepState};
pub use stop::Interruption;

use crate::error::{Result, RunnerError};
use crate::kind::StepKind;
use crate::plan::{Plan, Step};
use crate::progress::{ProgressSink, StepProgress};
use finefail_core::StopFlag;
use record::write_record;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What a step kind does. The binary (or a test) supplies one implementation per run.
pub trait StepWork {
    /// The part of the config (and any external input, e.g. a model's sha256) this step depends on,
    /// as canonical JSON. It goes into the step's input hash.
    fn config_slice(&self, step: &Step) -> Result<serde_json::Value>;
    /// Runs the step, writing its outputs under `scratch` (a directory; for a file output, the file
    /// `scratch/<file name>`). `run_dir` holds the outputs of earlier steps. `progress` hears how
    /// far the step is, in its own unit, so that a long step is never a silent one.
    fn run(
        &self,
        step: &Step,
        run_dir: &Path,
        scratch: &Path,
        progress: ProgressSink,
    ) -> Result<()>;
    /// The flag that asks the run to stop at its next safe point; the engine checks it before
    /// each step it runs. By default the process-wide one a Ctrl-C sets.
    fn stop(&self) -> StopFlag {
        StopFlag::process()
    }
    /// Whether a done step made by other code (a recorded code version that is not this
    /// binary's) is reused instead of rerun, when its inputs are unchanged (`--keep-stale`): for a
    /// study whose cached steps are trusted across a code change. By default it reruns.
    fn keep_stale(&self) -> bool {
        false
    }
}

/// A done step reused under [`StepWork::keep_stale`] although other code made it: listed in the
/// manifest and the report so that nobody reads its output as this binary's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeptStale {
    /// The step.
    pub id: String,
    /// The code version its record carries.
    pub recorded: String,
    /// This binary's code version for its kind.
    pub current: String,
}

/// What happened to each step in one execution.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunSummary {
    pub ran: Vec<String>,
    pub cached: Vec<String>,
    pub records: Vec<StepRecord>,
    /// The cached steps that were made by other code and kept (`--keep-stale`).
    pub kept: Vec<KeptStale>,
}

/// Progress events for the binary to draw (the engine never prints).
#[derive(Debug, Clone)]
pub enum Event<'a> {
    /// A step starts running: it is the `index`-th (0-based) of the `total` steps in scope.
    Start {
        /// The step.
        step: &'a Step,
        /// Its position in the scope.
        index: usize,
        /// Steps in the scope, cached ones included.
        total: usize,
    },
    /// A step's output is current: it is skipped.
    Cached {
        /// The step.
        step: &'a Step,
        /// Its position in the scope.
        index: usize,
        /// Steps in the scope, cached ones included.
        total: usize,
    },
    /// The running step reports how far it is.
    Progress {
        /// The step.
        step: &'a Step,
        /// How far, in the step's own unit.
        progress: StepProgress,
    },
    /// A step finished.
    Done {
        /// The step.
        step: &'a Step,
        /// Its wall time in seconds.
        wall_s: f64,
    },
}

/// Which steps an execution covers.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// Every step up to and including the steps of this kind (None = all).
    Until(Option<StepKind>),
    /// Exactly this step; the steps it depends on must already be done (an external scheduler such
    /// as Slurm runs them as separate jobs).
    Only(&'a str),
}

/// Runs `plan` with `steps`, stopping after the steps of kind `until` (and everything before them).
pub fn execute(
    plan: &Plan,
    steps: &dyn StepWork,
    until: Option<StepKind>,
    progress: &mut (dyn FnMut(Event) + Send),
) -> Result<RunSummary> {
    execute_scope(plan, steps, Scope::Until(until), progress)
}

/// Runs the steps of `scope`. `progress` is `Send` because a step may report from worker threads
/// (it is called under a lock, one event at a time).
pub fn execute_scope(
    plan: &Plan,
    steps: &dyn StepWork,
    scope: Scope,
    progress: &mut (dyn FnMut(Event) + Send),
) -> Result<RunSummary> {
    let run_dir = &plan.run_dir;
    create_dir(run_dir)?;
    let selected = select(plan, scope)?;
    let mut outputs: BTreeMap<String, String> = BTreeMap::new();
    let mut summary = RunSummary::default();
    let total = selected.len();
    let stop_flag = steps.stop();
    let keep = steps.keep_stale();
    for (index, step) in selected.into_iter().enumerate() {
        let input_hash = selected_input_hash(run_dir, step, steps, &outputs)?;
        let input_hash = with_kept_stale(step, input_hash, &summary.kept);
        if let Some(current) = current_output(run_dir, step, &input_hash, keep) {
            outputs.insert(step.id.clone(), current.output_hash);
            progress(Event::Cached { step, index, total });
            summary.cached.push(step.id.clone());
            summary.records.push(current.record);
            summary.kept.extend(current.kept);
            continue;
        }
        if let Scope::Only(only) = scope {
            if only != step.id {
                return Err(unfinished_dependency(only, step));
            }
        }
        if stop_flag.requested() {
            return Err(stop::interrupted(summary.ran.len(), &step.id, None));
        }
        progress(Event::Start { step, index, total });
        let (rec, output_hash) = match run_step(run_dir, step, steps, &input_hash, progress) {
            Err(RunnerError::Stopped { at }) => {
                return Err(stop::interrupted(summary.ran.len(), &step.id, Some(at)))
            }
            other => other?,
        };
        progress(Event::Done {
            step,
            wall_s: rec.wall_s.unwrap_or(0.0),
        });
        outputs.insert(step.id.clone(), output_hash);
        summary.ran.push(step.id.clone());
        summary.records.push(rec);
    }
    Ok(summary)
}

/// The steps of `plan` whose recorded output is current (done, input hash matching, output
/// present: the same test that makes [`execute_scope`] skip a step), with their output hashes:
/// what an external scheduler need not run again.
pub fn current_outputs(plan: &Plan, steps: &dyn StepWork) -> Result<BTreeMap<String, String>> {
    let mut outputs = BTreeMap::new();
    let mut kept = Vec::new();
    for step in &plan.steps {
        let Some(hash) = input_hash(step, steps, &outputs)? else {
            continue;
        };
        let hash = with_kept_stale(step, hash, &kept);
        if let Some(current) = current_output(&plan.run_dir, step, &hash, steps.keep_stale()) {
            outputs.insert(step.id.clone(), current.output_hash);
            kept.extend(current.kept);
        }
    }
    Ok(outputs)
}

/// A step's input hash, for the report, extended by the steps kept although other code made them
/// (`--keep-stale`), so that the report that lists them is redone when that list changes. Without
/// kept steps (every default run) the hash is what it always was.
fn with_kept_stale(step: &Step, input_hash: String, kept: &[KeptStale]) -> String {
    if step.kind != StepKind::Report || kept.is_empty() {
        return input_hash;
    }
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(input_hash.as_bytes());
    for k in kept {
        for part in [&k.id, &k.recorded, &k.current] {
            h.update(b"\0");
            h.update(part.as_bytes());
        }
    }
    hex::encode(h.finalize())
}

/// Stage 1, select: the steps `scope` covers, in plan order (so every step comes after the steps
/// it reads). `Only` is an error when the plan has no such step.
fn select<'p>(plan: &'p Plan, scope: Scope) -> Result<Vec<&'p Step>> {
    match scope {
        Scope::Until(until) => Ok(plan.until(until)),
        Scope::Only(id) => {
            if !plan.steps.iter().any(|s| s.id == id) {
                return Err(RunnerError::config(
                    &plan.run_dir,
                    format!("no step `{id}` in the plan"),
                ));
            }
            let ancestors = ancestors(plan, id);
            Ok(plan
                .steps
                .iter()
                .filter(|s| s.id == id || ancestors.contains(s.id.as_str()))
                .collect())
        }
    }
}

/// Every step `id` depends on, directly or not.
fn ancestors<'a>(plan: &'a Plan, id: &str) -> std::collections::HashSet<&'a str> {
    let by_id: BTreeMap<&str, &Step> = plan.steps.iter().map(|s| (s.id.as_str(), s)).collect();
    let mut out = std::collections::HashSet::new();
    let mut stack: Vec<&str> = by_id
        .get(id)
        .map(|s| s.deps.iter().map(String::as_str).collect())
        .unwrap_or_default();
    while let Some(d) = stack.pop() {
        if out.insert(d) {
            if let Some(s) = by_id.get(d) {
                stack.extend(s.deps.iter().map(String::as_str));
            }
        }
    }
    out
}

/// The input hash of a selected step. Its dependencies were selected before it and have either
/// run or been found current, so a missing dependency output means one was not selected: an
/// error naming it.
fn selected_input_hash(
    run_dir: &Path,
    step: &Step,
    steps: &dyn StepWork,
    outputs: &BTreeMap<String, String>,
) -> Result<String> {
    input_hash(step, steps, outputs)?.ok_or_else(|| {
        let dep = step
            .deps
            .iter()
            .find(|d| !outputs.contains_key(*d))
            .cloned()
            .unwrap_or_default();
        RunnerError::config(
            run_dir,
            format!("step {} needs {dep}, which has not run", step.id),
        )
    })
}

/// A step whose recorded output is current, and that output's hash.
struct Current {
    record: StepRecord,
    output_hash: String,
    /// Made by other code and kept (`--keep-stale`).
    kept: Option<KeptStale>,
}

/// Stage 2, check the cache — the one test of "this step need not run", shared by
/// [`execute_scope`], [`current_outputs`] and [`step_statuses`]: the step's record says done,
/// under `input_hash` and this binary's code version (any code version when `keep_stale`), with
/// an output hash, and its output is in place.
fn current_output(
    run_dir: &Path,
    step: &Step,
    input_hash: &str,
    keep_stale: bool,
) -> Option<Current> {
    judge(run_dir, step, Some(input_hash), keep_stale).ok()
}

/// [`current_output`] with the reason when the step is not current. With `keep_stale`, a step
/// made by other code passes the code test and is judged on the others (inputs, output), so a
/// changed config still reruns it.
fn judge(
    run_dir: &Path,
    step: &Step,
    input_hash: Option<&str>,
    keep_stale: bool,
) -> std::result::Result<Current, StepStatus> {
    let Some(record) = read_record(&record_path(run_dir, &step.id)) else {
        return Err(StepStatus::Pending);
    };
    match record.state {
        StepState::Interrupted => return Err(StepStatus::Interrupted),
        StepState::Running if record.interrupted() => return Err(StepStatus::Interrupted),
        StepState::Running => return Err(StepStatus::Running),
        StepState::Failed => return Err(StepStatus::Failed),
        StepState::Done => {}
    }
    let recorded = recorded_code_version(step.kind, record.code_version.as_deref());
    let current = code_version(step.kind);
    let mut kept = None;
    if recorded != current {
        if !keep_stale {
            return Err(StepStatus::Stale(Stale::Code {
                recorded: recorded.to_string(),
                current,
            }));
        }
        kept = Some(KeptStale {
            id: step.id.clone(),
            recorded: recorded.to_string(),
            current,
        });
    }
    let Some(input_hash) = input_hash else {
        return Err(StepStatus::Stale(Stale::Upstream));
    };
    if record.input_hash != input_hash {
        return Err(StepStatus::Stale(Stale::Inputs));
    }
    match record.output_hash.clone() {
        Some(output_hash) if run_dir.join(&step.output).exists() => Ok(Current {
            record,
            output_hash,
            kept,
        }),
        _ => Err(StepStatus::Stale(Stale::OutputMissing)),
    }
}

/// Where a step of a plan stands against this binary and the current inputs: what `--status`
/// and `--plan` say of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepStatus {
    /// Done and current: a run skips it.
    Done,
    /// Done by other code, its inputs unchanged, and kept (`--keep-stale`): a run skips it.
    Kept {
        /// The code version its record carries.
        recorded: String,
        /// This binary's.
        current: String,
    },
    /// Done, but a run redoes it, for this reason.
    Stale(Stale),
    /// Recorded running, by a process that is alive (or on another host, or not recorded).
    Running,
    /// Stopped on request (Ctrl-C, SIGTERM), or recorded running by a process on this host that
    /// is gone: killed or crashed mid-step. A run redoes it (resuming from its scratch folder
    /// where the step can).
    Interrupted,
    /// Its last run failed; a run retries it.
    Failed,
    /// Never started.
    Pending,
}

/// Why a done step is stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stale {
    /// Made by other code: the recorded code version and this binary's.
    Code { recorded: String, current: String },
    /// Its config slice or its inputs' outputs changed.
    Inputs,
    /// A step it reads is not current (it reruns first).
    Upstream,
    /// Its output is gone.
    OutputMissing,
}

impl StepStatus {
    /// The state word: `done`, `kept`, `stale`, `running`, `interrupted`, `failed`, `pending`.
    pub fn word(&self) -> &'static str {
        match self {
            StepStatus::Done => "done",
            StepStatus::Kept { .. } => "kept",
            StepStatus::Stale(_) => "stale",
            StepStatus::Running => "running",
            StepStatus::Interrupted => "interrupted",
            StepStatus::Failed => "failed",
            StepStatus::Pending => "pending",
        }
    }

    /// Why a stale step reruns, as `--status` prints it (`stale: code 0.1.0+3f9a0c21 →
    /// 0.1.0+77d2e5b0`), or why a kept one would have; `None` for the other states.
    pub fn why(&self) -> Option<String> {
        if let StepStatus::Kept { recorded, current } = self {
            return Some(format!("stale: code {recorded} → {current}"));
        }
        let StepStatus::Stale(why) = self else {
            return None;
        };
        Some(match why {
            Stale::Code { recorded, current } => format!("stale: code {recorded} → {current}"),
            Stale::Inputs => "stale: config or inputs changed".into(),
            Stale::Upstream => "stale: a step it reads reruns".into(),
            Stale::OutputMissing => "stale: output missing".into(),
        })
    }
}

/// The status of every step of `plan`, in plan order (a step whose dependency is not current is
/// `Stale(Upstream)` when done).
pub fn step_statuses(plan: &Plan, steps: &dyn StepWork) -> Result<Vec<(String, StepStatus)>> {
    let mut outputs = BTreeMap::new();
    let mut kept = Vec::new();
    let mut out = Vec::new();
    for step in &plan.steps {
        let hash = input_hash(step, steps, &outputs)?.map(|h| with_kept_stale(step, h, &kept));
        let status = match judge(&plan.run_dir, step, hash.as_deref(), steps.keep_stale()) {
            Ok(current) => {
                outputs.insert(step.id.clone(), current.output_hash);
                match current.kept {
                    Some(k) => {
                        let status = StepStatus::Kept {
                            recorded: k.recorded.clone(),
                            current: k.current.clone(),
                        };
                        kept.push(k);
                        status
                    }
                    None => StepStatus::Done,
                }
            }
            Err(status) => status,
        };
        out.push((step.id.clone(), status));
    }
    Ok(out)
}

/// The error of a `Scope::Only` run that reached a dependency of `only` that is not current.
fn unfinished_dependency(only: &str, step: &Step) -> RunnerError {
    RunnerError::Step {
        message: format!(
            "step {only} needs {}, which is not finished (or its inputs changed); run it first",
            step.id
        ),
        bad_input: true,
    }
}

/// Stage 3, run: records the step `running`, runs it in its scratch directory ([`run_in_scratch`]),
/// then [`promote`]s and [`record_done`]s it. A step that returns an error is recorded `failed`
/// (`interrupted` when it stopped on request) and its scratch directory stays for the next try.
/// Returns the record and the output hash.
fn run_step(
    run_dir: &Path,
    step: &Step,
    steps: &dyn StepWork,
    input_hash: &str,
    progress: &mut (dyn FnMut(Event) + Send),
) -> Result<(StepRecord, String)> {
    let record_path = record_path(run_dir, &step.id);
    let output = run_dir.join(&step.output);
    let mut rec = StepRecord::running(&step.id, step.kind, input_hash);
    write_record(&record_path, &rec)?;
    let scratch = scratch_dir(&output, input_hash);
    create_dir(&scratch)?;
    let started = Instant::now();
    if let Err(e) = run_in_scratch(run_dir, step, steps, &scratch, progress) {
        rec.state = StepState::Failed;
        if let RunnerError::Stopped { .. } = e {
            rec.state = StepState::Interrupted;
            rec.wall_s = Some(started.elapsed().as_secs_f64());
        }
        rec.error = Some(e.to_string());
        write_record(&record_path, &rec)?;
        return Err(e);
    }
    promote(step, &scratch, &output)?;
    let output_hash = record_done(&record_path, &mut rec, step, &output, started)?;
    Ok((rec, output_hash))
}

/// Calls the step's work on `scratch`, passing its progress reports on as [`Event::Progress`].
fn run_in_scratch(
    run_dir: &Path,
    step: &Step,
    steps: &dyn StepWork,
    scratch: &Path,
    progress: &mut (dyn FnMut(Event) + Send),
) -> Result<()> {
    let sink = std::sync::Mutex::new(progress);
    let report = |p: StepProgress| {
        if let Ok(mut f) = sink.lock() {
            (*f)(Event::Progress { step, progress: p });
        }
    };
    steps.run(step, run_dir, scratch, &report)
}

/// Stage 4, promote: moves what the step wrote in `scratch` into place at `output` in one rename
/// (a directory output is the scratch directory itself; a file output is `scratch/<file name>`,
/// and the emptied scratch directory is removed). A step that wrote nothing is an error.
fn promote(step: &Step, scratch: &Path, output: &Path) -> Result<()> {
    let file_output = output.extension().is_some();
    let produced = if file_output {
        scratch.join(output.file_name().unwrap_or_default())
    } else {
        scratch.to_path_buf()
    };
    if !produced.exists() {
        return Err(RunnerError::config(
            output,
            format!("step {} finished without writing its output", step.id),
        ));
    }
    finefail_core::atomic::replace(&produced, output)?;
    if file_output {
        let _ = std::fs::remove_dir_all(scratch);
    }
    Ok(())
}

/// Stage 5, record: hashes the promoted output (without its kind's [`StepKind::kept_dirs`]) and
/// records the step `done` with that hash and its wall time since `started`; from here on the
/// step is cached. Returns the output hash.
fn record_done(
    record_path: &Path,
    rec: &mut StepRecord,
    step: &Step,
    output: &Path,
    started: Instant,
) -> Result<String> {
    let output_hash = hash_path(output, step.kind.kept_dirs())?;
    rec.output_hash = Some(output_hash.clone());
    rec.wall_s = Some(started.elapsed().as_secs_f64());
    rec.state = StepState::Done;
    write_record(record_path, rec)?;
    Ok(output_hash)
}

/// The scratch directory of a step: beside its output, keyed by the input hash so a half-done
/// step of a different configuration is never resumed by mistake.
fn scratch_dir(output: &Path, input_hash: &str) -> PathBuf {
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    output.with_file_name(format!(".{name}.partial-{}", &input_hash[..16]))
}

/// `create_dir_all`, its error naming the path.
fn create_dir(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path).map_err(|e| RunnerError::Io {
        path: path.to_path_buf(),
        source: e,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Step;
    use std::cell::RefCell;

    /// A toy step graph: a → b → c.txt, each step writing the concatenation of its inputs.
    struct Toy {
        runs: RefCell<Vec<String>>,
        fail_at: Option<&'static str>,
        salt: &'static str,
        keep: bool,
    }

    impl StepWork for Toy {
        fn config_slice(&self, step: &Step) -> Result<serde_json::Value> {
            Ok(serde_json::json!({ "salt": if step.id == "b" { self.salt } else { "" } }))
        }
        fn keep_stale(&self) -> bool {
            self.keep
        }
        fn run(
            &self,
            step: &Step,
            run_dir: &Path,
            scratch: &Path,
            progress: ProgressSink,
        ) -> Result<()> {
            progress(StepProgress::count("items", 1, 1));
            self.runs.borrow_mut().push(step.id.clone());
            if self.fail_at == Some(step.id.as_str()) {
                std::fs::write(scratch.join("half"), "x").unwrap();
                return Err(RunnerError::config(scratch, "boom"));
            }
            let mut text = format!("{}:{}", step.id, self.salt);
            for d in &step.deps {
                text.push_str(
                    &std::fs::read_to_string(run_dir.join(d).join("out")).unwrap_or_default(),
                );
            }
            if step.id == "c" {
                std::fs::write(scratch.join("c.txt"), text).unwrap();
            } else {
                std::fs::write(scratch.join("out"), text).unwrap();
            }
            Ok(())
        }
    }

    fn plan(dir: &Path) -> Plan {
        let step = |id: &str, kind: StepKind, deps: &[&str], out: &str| Step {
            id: id.into(),
            kind,
            deps: deps.iter().map(|d| d.to_string()).collect(),
            output: out.into(),
        };
        Plan {
            name: "toy".into(),
            run_dir: dir.to_path_buf(),
            steps: vec![
                step("a", StepKind::Prepare, &[], "a"),
                step("b", StepKind::Retrieve, &["a"], "b"),
                step("c", StepKind::Compare, &["b"], "c.txt"),
            ],
            warnings: vec![],
        }
    }

    fn toy(fail_at: Option<&'static str>, salt: &'static str) -> Toy {
        Toy {
            runs: RefCell::new(vec![]),
            fail_at,
            salt,
            keep: false,
        }
    }

    #[test]
    fn finished_steps_are_skipped_and_changes_rerun_what_is_below() {
        let tmp = tempfile::tempdir().unwrap();
        let p = plan(tmp.path());
        let t = toy(None, "1");
        execute(&p, &t, None, &mut |_| {}).unwrap();
        assert_eq!(*t.runs.borrow(), vec!["a", "b", "c"]);
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("c.txt")).unwrap(),
            "c:1b:1a:1"
        );
        let t = toy(None, "1");
        let s = execute(&p, &t, None, &mut |_| {}).unwrap();
        assert!(t.runs.borrow().is_empty());
        assert_eq!(s.cached.len(), 3);
        // A changed config slice of b reruns b and c, not a.
        let t = toy(None, "2");
        execute(&p, &t, None, &mut |_| {}).unwrap();
        assert_eq!(
            *t.runs.borrow(),
            vec!["a", "b", "c"].into_iter().skip(1).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_failed_step_leaves_no_output_and_reruns() {
        let tmp = tempfile::tempdir().unwrap();
        let p = plan(tmp.path());
        assert!(execute(&p, &toy(Some("b"), "1"), None, &mut |_| {}).is_err());
        assert!(!tmp.path().join("b").exists());
        assert_eq!(
            read_record(&record_path(tmp.path(), "b")).unwrap().state,
            StepState::Failed
        );
        let t = toy(None, "1");
        execute(&p, &t, None, &mut |_| {}).unwrap();
        assert_eq!(*t.runs.borrow(), vec!["b", "c"]);
    }

    #[test]
    fn only_runs_one_step_whose_dependencies_are_done() {
        let tmp = tempfile::tempdir().unwrap();
        let p = plan(tmp.path());
        let err = execute_scope(&p, &toy(None, "1"), Scope::Only("b"), &mut |_| {})
            .unwrap_err()
            .to_string();
        assert!(err.contains("needs a"), "{err}");
        let t = toy(None, "1");
        execute_scope(&p, &t, Scope::Only("a"), &mut |_| {}).unwrap();
        execute_scope(&p, &t, Scope::Only("b"), &mut |_| {}).unwrap();
        assert_eq!(*t.runs.borrow(), vec!["a", "b"]);
        assert!(!tmp.path().join("c.txt").exists());
    }

    /// A step recorded under another code version reruns, and its status says why; what reads
    /// it waits on it. A record from before code versions counts as [`code::LEGACY`]'s.
    #[test]
    fn a_step_made_by_other_code_is_stale_and_reruns() {
        let tmp = tempfile::tempdir().unwrap();
        let p = plan(tmp.path());
        execute(&p, &toy(None, "1"), None, &mut |_| {}).unwrap();
        let statuses = |t: &Toy| step_statuses(&p, t).unwrap();
        assert!(statuses(&toy(None, "1"))
            .iter()
            .all(|(_, s)| *s == StepStatus::Done));
        let path = record_path(tmp.path(), "b");
        let mut rec = read_record(&path).unwrap();
        assert_eq!(
            rec.code_version.as_deref(),
            Some(code_version(StepKind::Retrieve).as_str())
        );
        rec.code_version = Some("0.0.9+deadbeef".into());
        write_record(&path, &rec).unwrap();
        let s = statuses(&toy(None, "1"));
        let current = code_version(StepKind::Retrieve);
        assert_eq!(
            s[1].1.why().unwrap(),
            format!("stale: code 0.0.9+deadbeef → {current}")
        );
        assert_eq!(s[1].1.word(), "stale");
        assert_eq!(s[2].1, StepStatus::Stale(Stale::Upstream));
        assert_eq!(s[0].1, StepStatus::Done);
        // The run redoes b; its output is the same, so c stays cached.
        let t = toy(None, "1");
        execute(&p, &t, None, &mut |_| {}).unwrap();
        assert_eq!(*t.runs.borrow(), vec!["b"]);
        // A config change is told apart from a code change.
        assert_eq!(
            statuses(&toy(None, "2"))[1].1,
            StepStatus::Stale(Stale::Inputs)
        );
        // A record without a code version: the legacy one of its kind.
        let path = record_path(tmp.path(), "a");
        let mut rec = read_record(&path).unwrap();
        rec.code_version = None;
        write_record(&path, &rec).unwrap();
        let legacy_is_current =
            recorded_code_version(StepKind::Prepare, None) == code_version(StepKind::Prepare);
        assert_eq!(
            statuses(&toy(None, "1"))[0].1 == StepStatus::Done,
            legacy_is_current
        );
    }

    /// With `keep_stale`, a step made by other code is kept when its inputs are unchanged (its
    /// status `kept`, listed in the summary), and still reruns when they changed.
    #[test]
    fn keep_stale_keeps_a_step_made_by_other_code_unless_its_inputs_changed() {
        let tmp = tempfile::tempdir().unwrap();
        let p = plan(tmp.path());
        execute(&p, &toy(None, "1"), None, &mut |_| {}).unwrap();
        let path = record_path(tmp.path(), "b");
        let mut rec = read_record(&path).unwrap();
        rec.code_version = Some("0.0.9+deadbeef".into());
        write_record(&path, &rec).unwrap();
        let keeping = |salt| Toy {
            keep: true,
            ..toy(None, salt)
        };
        let current = code_version(StepKind::Retrieve);
        let s = step_statuses(&p, &keeping("1")).unwrap();
        assert_eq!(s[1].1.word(), "kept");
        assert_eq!(
            s[1].1.why().unwrap(),
            format!("stale: code 0.0.9+deadbeef → {current}")
        );
        assert_eq!(s[2].1, StepStatus::Done);
        assert!(current_outputs(&p, &keeping("1"))
            .unwrap()
            .contains_key("b"));
        let t = keeping("1");
        let summary = execute(&p, &t, None, &mut |_| {}).unwrap();
        assert!(t.runs.borrow().is_empty());
        assert_eq!(
            summary.kept,
            vec![KeptStale {
                id: "b".into(),
                recorded: "0.0.9+deadbeef".into(),
                current: current.clone(),
            }]
        );
        // A config change still reruns it, under this binary's code.
        let t = keeping("2");
        let summary = execute(&p, &t, None, &mut |_| {}).unwrap();
        assert_eq!(*t.runs.borrow(), vec!["b", "c"]);
        assert!(summary.kept.is_empty());
        assert_eq!(
            read_record(&path).unwrap().code_version.as_deref(),
            Some(current.as_str())
        );
    }

    #[test]
    fn until_stops_after_a_kind() {
        let tmp = tempfile::tempdir().unwrap();
        let p = plan(tmp.path());
        let t = toy(None, "1");
        execute(&p, &t, Some(StepKind::Retrieve), &mut |_| {}).unwrap();
        assert_eq!(*t.runs.borrow(), vec!["a", "b"]);
    }

    /// A running step's reports reach the caller between its Start and Done; a cached step sends
    /// none.
    #[test]
    fn step_progress_reaches_the_caller_between_start_and_done() {
        let tmp = tempfile::tempdir().unwrap();
        let p = plan(tmp.path());
        let log = |t: &Toy| {
            let mut seen = Vec::new();
            execute(&p, t, None, &mut |e| {
                seen.push(match e {
                    Event::Start { step, .. } => format!("start {}", step.id),
                    Event::Cached { step, .. } => format!("cached {}", step.id),
                    Event::Progress { step, progress } => {
                        format!(
                            "{} {}/{:?} {}",
                            step.id, progress.done, progress.total, progress.unit
                        )
                    }
                    Event::Done { step, .. } => format!("done {}", step.id),
                })
            })
            .unwrap();
            seen
        };
        let first = log(&toy(None, "1"));
        assert_eq!(
            first[..3],
            ["start a", "a 1/Some(1) items", "done a"].map(String::from)
        );
        assert_eq!(first.len(), 9);
        let again = log(&toy(None, "1"));
        assert_eq!(
            again,
            ["cached a", "cached b", "cached c"].map(String::from)
        );
    }
}
