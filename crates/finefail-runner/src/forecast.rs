//! What `finefail run --plan` says a run will do: each step `cached` or `to run` (with why, when
//! it was recorded before), and how long the steps that run should take — from wall times this
//! machine recorded, never invented. A step that ran before in this run folder is estimated by
//! its own recorded wall time; any other by its kind's rate measured in this folder, else in the
//! sibling run folders under the same runs directory (finetune per training example, answer and
//! score per test question, the other kinds per step, a rate of the same model preferred); a kind
//! never recorded anywhere has no estimate, and the total says so.
//!
//! Static and best effort like the rest of `--plan`: an unreadable record or folder counts as
//! none, and nothing here fails.

use crate::arm::step_arm;
use crate::config::Config;
use crate::engine::{read_record, record_path, step_statuses, StepState, StepStatus, StepWork};
use crate::kind::StepKind;
use crate::plan::{Plan, Step};
use finefail_core::{files, RunLayout};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What a run does with a step.
#[derive(Debug, Clone, PartialEq)]
pub enum Mark {
    /// Its output is current: a run skips it.
    Cached,
    /// Made by other code and kept (`--keep-stale`): a run skips it; why it would otherwise run
    /// (`stale: code OLD → NEW`).
    Kept(String),
    /// A run runs it; why, when it was recorded before (`stale: code OLD → NEW`, `interrupted`).
    ToRun(Option<String>),
    /// After the `--until` kind: this run leaves it alone.
    Beyond,
}

/// Where a step's time estimate comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Basis {
    /// This step's own wall time, recorded in this run folder when it ran before.
    Recorded,
    /// Its kind's rate, measured on the records of these run folders (the first is this run's
    /// folder when it had any).
    Rate {
        /// The kind whose records gave the rate.
        kind: StepKind,
        /// The run folders the records came from.
        folders: Vec<PathBuf>,
    },
    /// Nothing of its kind was ever recorded here.
    Unknown,
}

/// One step of the forecast.
#[derive(Debug, Clone, PartialEq)]
pub struct StepForecast {
    /// The step's id.
    pub id: String,
    /// Its kind.
    pub kind: StepKind,
    /// Cached, to run or beyond `--until`.
    pub mark: Mark,
    /// Estimated wall time in seconds (steps to run only; `None` when unknown).
    pub seconds: Option<f64>,
    /// Where the estimate comes from (`Unknown` for steps that do not run).
    pub basis: Basis,
}

/// The forecast of a whole plan, in plan order.
#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    /// The run folder it was made for (named "this folder" in the total).
    pub run_dir: PathBuf,
    /// `--until`, which bounds what runs.
    pub until: Option<StepKind>,
    /// Every step of the plan.
    pub steps: Vec<StepForecast>,
}

/// One recorded wall time, with what scales it.
#[derive(Debug, Clone)]
struct Sample {
    kind: StepKind,
    model: Option<String>,
    /// Training examples (finetune) or test questions (answer, score); `None` when unknown.
    units: Option<f64>,
    wall_s: f64,
    folder: PathBuf,
}

/// Marks every step of `plan` cached or to run (up to `until`) and estimates the steps to run.
/// Never fails: a status that cannot be computed marks every step in scope `to run`.
pub fn forecast(
    plan: &Plan,
    work: &dyn StepWork,
    config: &Config,
    until: Option<StepKind>,
) -> Forecast {
    let statuses: BTreeMap<String, StepStatus> = step_statuses(plan, work)
        .unwrap_or_default()
        .into_iter()
        .collect();
    let here = samples(&plan.run_dir);
    let siblings = sibling_samples(&plan.run_dir);
    let last = until.unwrap_or(StepKind::Report);
    let steps = plan
        .steps
        .iter()
        .map(|step| {
            let status = statuses
                .get(&step.id)
                .cloned()
                .unwrap_or(StepStatus::Pending);
            let mark = if step.kind > last {
                Mark::Beyond
            } else if status == StepStatus::Done {
                Mark::Cached
            } else if let (StepStatus::Kept { .. }, Some(why)) = (&status, status.why()) {
                Mark::Kept(why)
            } else {
                Mark::ToRun(reason(&status))
            };
            let (seconds, basis) = if matches!(mark, Mark::ToRun(_)) {
                estimate(step, plan, config, &here, &siblings)
            } else {
                (None, Basis::Unknown)
            };
            StepForecast {
                id: step.id.clone(),
                kind: step.kind,
                mark,
                seconds,
                basis,
            }
        })
        .collect();
    Forecast {
        run_dir: plan.run_dir.clone(),
        until,
        steps,
    }
}

/// Why a step that is not current runs, when it was recorded before.
fn reason(status: &StepStatus) -> Option<String> {
    match status {
        StepStatus::Stale(_) => status.why(),
        StepStatus::Interrupted => Some("interrupted: redone".into()),
        StepStatus::Failed => Some("failed last time".into()),
        StepStatus::Running => Some("recorded running by another process".into()),
        StepStatus::Done | StepStatus::Kept { .. } | StepStatus::Pending => None,
    }
}

/// A step's estimate: its own recorded wall time, else its kind's rate here, else in a sibling
/// folder, else none.
fn estimate(
    step: &Step,
    plan: &Plan,
    config: &Config,
    here: &[Sample],
    siblings: &[Sample],
) -> (Option<f64>, Basis) {
    let own = read_record(&record_path(&plan.run_dir, &step.id))
        .filter(|r| r.state == StepState::Done)
        .and_then(|r| r.wall_s)
        .filter(|w| w.is_finite() && *w >= 0.0);
    if let Some(w) = own {
        return (Some(w), Basis::Recorded);
    }
    let model = model_of(step);
    let units = target_units(step, &plan.run_dir, config);
    for pool in [here, siblings] {
        if let Some((seconds, folders)) = rate(pool, step.kind, model.as_deref(), units) {
            return (
                Some(seconds),
                Basis::Rate {
                    kind: step.kind,
                    folders,
                },
            );
        }
    }
    (None, Basis::Unknown)
}

/// The estimate of a step of `kind` (of `model`, with `units`) from `pool`'s samples of that
/// kind — those of the same model when there are any: seconds per unit times `units` when both
/// sides know their units, else the mean wall time per step. With the folders it used.
fn rate(
    pool: &[Sample],
    kind: StepKind,
    model: Option<&str>,
    units: Option<f64>,
) -> Option<(f64, Vec<PathBuf>)> {
    let of_kind: Vec<&Sample> = pool.iter().filter(|s| s.kind == kind).collect();
    if of_kind.is_empty() {
        return None;
    }
    let same_model: Vec<&Sample> = of_kind
        .iter()
        .copied()
        .filter(|s| model.is_some() && s.model.as_deref() == model)
        .collect();
    let used = if same_model.is_empty() {
        of_kind
    } else {
        same_model
    };
    let scaled: Vec<&Sample> = used
        .iter()
        .copied()
        .filter(|s| s.units.is_some_and(|u| u > 0.0))
        .collect();
    let (seconds, from) = match units.filter(|u| *u > 0.0) {
        Some(u) if !scaled.is_empty() => {
            let wall: f64 = scaled.iter().map(|s| s.wall_s).sum();
            let n: f64 = scaled.iter().filter_map(|s| s.units).sum();
            (wall / n * u, scaled)
        }
        _ => (
            used.iter().map(|s| s.wall_s).sum::<f64>() / used.len() as f64,
            used,
        ),
    };
    let folders: BTreeSet<PathBuf> = from.iter().map(|s| s.folder.clone()).collect();
    Some((seconds, folders.into_iter().collect()))
}

/// The model a finetune, answer or score step uses (from its id).
fn model_of(step: &Step) -> Option<String> {
    matches!(
        step.kind,
        StepKind::Finetune | StepKind::Answer | StepKind::Score
    )
    .then(|| subject_arm(&step.id))
    .flatten()
    .map(|a| a.model)
}

/// The arm a step id names after its kind, if it names one.
fn subject_arm(id: &str) -> Option<finefail_core::ArmId> {
    let (_, subject) = id.split_once('/')?;
    step_arm(subject, Path::new("")).ok()
}

/// What a step's time scales with, for the step to estimate: a finetune's N, or the test
/// questions an answer or score step goes through (from its prepared data when there, else the
/// config's `test_size`).
fn target_units(step: &Step, run_dir: &Path, config: &Config) -> Option<f64> {
    let arm = subject_arm(&step.id)?;
    match step.kind {
        StepKind::Finetune => Some(arm.n as f64),
        StepKind::Answer | StepKind::Score => test_questions(run_dir, &arm.dataset).or_else(|| {
            config
                .dataset(&arm.dataset)
                .ok()
                .map(|d| d.test_size as f64)
        }),
        _ => None,
    }
}

/// The test questions of a prepared dataset in `run_dir` (its `stats.json`), if prepared.
fn test_questions(run_dir: &Path, dataset: &str) -> Option<f64> {
    let path = RunLayout::new(run_dir).data(dataset).join(files::STATS);
    let stats: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    stats.get("test")?.as_u64().map(|t| t as f64)
}

/// The wall times of the done steps recorded in `run_dir` (`steps/*/state.json`).
fn samples(run_dir: &Path) -> Vec<Sample> {
    let Ok(entries) = std::fs::read_dir(RunLayout::new(run_dir).steps()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let Some(rec) = read_record(&e.path().join(files::STEP_STATE)) else {
            continue;
        };
        let (Ok(kind), Some(wall_s)) = (rec.kind.parse::<StepKind>(), rec.wall_s) else {
            continue;
        };
        if rec.state != StepState::Done || !wall_s.is_finite() || wall_s < 0.0 {
            continue;
        }
        let arm = matches!(
            kind,
            StepKind::Finetune | StepKind::Answer | StepKind::Score
        )
        .then(|| subject_arm(&rec.id))
        .flatten();
        let units = arm.as_ref().and_then(|a| match kind {
            StepKind::Finetune => Some(a.n as f64),
            StepKind::Answer | StepKind::Score => test_questions(run_dir, &a.dataset),
            _ => None,
        });
        out.push(Sample {
            kind,
            model: arm.map(|a| a.model),
            units,
            wall_s,
            folder: run_dir.to_path_buf(),
        });
    }
    out
}

/// The samples of the other run folders beside `run_dir` (same runs directory), in name order.
fn sibling_samples(run_dir: &Path) -> Vec<Sample> {
    let Some(root) = run_dir.parent() else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && p.file_name() != run_dir.file_name())
        .collect();
    dirs.sort();
    dirs.iter().flat_map(|d| samples(d)).collect()
}

impl Forecast {
    /// The steps a run will run.
    pub fn to_run(&self) -> impl Iterator<Item = &StepForecast> {
        self.steps
            .iter()
            .filter(|s| matches!(s.mark, Mark::ToRun(_)))
    }

    /// How many steps are cached (within `--until`), kept ones included.
    pub fn cached(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| matches!(s.mark, Mark::Cached | Mark::Kept(_)))
            .count()
    }

    /// The plan's closing line: `to run: 12 steps, ~14 min (8 from this folder's records, 4 from
    /// finetune rates measured in runs/other)`; `≥` when some steps have no estimate, and `no
    /// estimate (nothing recorded yet)` when none has.
    pub fn total_line(&self) -> String {
        let to_run: Vec<&StepForecast> = self.to_run().collect();
        let scope = match self.until {
            Some(u) => format!("to run (--until {u})"),
            None => "to run".to_string(),
        };
        if to_run.is_empty() {
            return format!("{scope}: nothing, {} steps cached", self.cached());
        }
        let mut recorded = 0;
        let mut rates: BTreeMap<(StepKind, String), usize> = BTreeMap::new();
        let mut unknown: BTreeSet<StepKind> = BTreeSet::new();
        let mut unknown_n = 0;
        for s in &to_run {
            match &s.basis {
                Basis::Recorded => recorded += 1,
                Basis::Rate { kind, folders } => {
                    *rates.entry((*kind, self.folders(folders))).or_default() += 1
                }
                Basis::Unknown => {
                    unknown.insert(s.kind);
                    unknown_n += 1;
                }
            }
        }
        let steps = format!("{} step{}", to_run.len(), plural(to_run.len()));
        if unknown_n == to_run.len() {
            return format!("{scope}: {steps}, no estimate (nothing recorded yet)");
        }
        let seconds: f64 = to_run.iter().filter_map(|s| s.seconds).sum();
        let mut parts = Vec::new();
        if recorded > 0 {
            parts.push(format!("{recorded} from this folder's records"));
        }
        for ((kind, folders), n) in &rates {
            parts.push(format!("{n} from {kind} rates measured in {folders}"));
        }
        if unknown_n > 0 {
            let kinds: Vec<&str> = unknown.iter().map(|k| k.as_str()).collect();
            parts.push(format!(
                "{unknown_n} with no estimate: no {} recorded yet",
                kinds.join(", ")
            ));
        }
        format!(
            "{scope}: {steps}, {} ({})",
            about(seconds, unknown_n > 0),
            parts.join(", ")
        )
    }

    /// Folders as the total names them: `this folder`, a path, or `a, b and 3 more`.
    fn folders(&self, folders: &[PathBuf]) -> String {
        let names: Vec<String> = folders
            .iter()
            .map(|f| {
                if *f == self.run_dir {
                    "this folder".to_string()
                } else {
                    f.display().to_string()
                }
            })
            .collect();
        match names.len() {
            0..=2 => names.join(", "),
            n => format!("{}, {} and {} more", names[0], names[1], n - 2),
        }
    }
}

/// `s` when `n` is not 1.
fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// An estimate as the plan gives it: `~40 s`, `~14 min`, `~2.5 h`, `<1 s`; `≥14 min` when it is a
/// lower bound (some steps have no estimate).
pub fn about(seconds: f64, lower_bound: bool) -> String {
    match (lower_bound, seconds < 1.0) {
        (false, true) => "<1 s".to_string(),
        (true, true) => "≥0 s".to_string(),
        (false, false) => format!("~{}", approx(seconds)),
        (true, false) => format!("≥{}", approx(seconds)),
    }
}

/// A duration without a sign: `40 s`, `14 min`, `2.5 h`.
pub fn approx(seconds: f64) -> String {
    if seconds < 1.0 {
        "<1 s".to_string()
    } else if seconds < 90.0 {
        format!("{:.0} s", seconds)
    } else if seconds < 90.0 * 60.0 {
        format!("{:.0} min", seconds / 60.0)
    } else {
        format!("{:.1} h", seconds / 3600.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{execute, StepRecord};
    use crate::error::Result;
    use crate::progress::ProgressSink;

    /// prepare/d → finetune/d/m/n{50,100}/s0 → answer/d/m/n50/s0: each writes one file.
    struct Toy(&'static str);

    impl StepWork for Toy {
        fn config_slice(&self, _: &Step) -> Result<serde_json::Value> {
            Ok(serde_json::json!({ "salt": self.0 }))
        }
        fn run(&self, _: &Step, _: &Path, scratch: &Path, _: ProgressSink) -> Result<()> {
            std::fs::write(scratch.join("out"), "x").unwrap();
            Ok(())
        }
    }

    fn plan(run_dir: &Path) -> Plan {
        let step = |id: &str, kind, deps: &[&str]| Step {
            id: id.into(),
            kind,
            deps: deps.iter().map(|d| d.to_string()).collect(),
            output: id.replace('/', "_").into(),
        };
        Plan {
            name: "p".into(),
            run_dir: run_dir.to_path_buf(),
            steps: vec![
                step("prepare/d", StepKind::Prepare, &[]),
                step("finetune/d/m/n50/s0", StepKind::Finetune, &["prepare/d"]),
                step("finetune/d/m/n100/s0", StepKind::Finetune, &["prepare/d"]),
                step(
                    "answer/d/m/n50/s0",
                    StepKind::Answer,
                    &["finetune/d/m/n50/s0"],
                ),
            ],
            warnings: vec![],
        }
    }

    /// Rewrites a step's recorded wall time (what a real run would have measured).
    fn set_wall(run_dir: &Path, id: &str, wall_s: f64) {
        let path = record_path(run_dir, id);
        let mut rec: StepRecord = read_record(&path).unwrap();
        rec.wall_s = Some(wall_s);
        std::fs::write(&path, serde_json::to_string(&rec).unwrap()).unwrap();
    }

    /// Marks and estimates on fabricated records: a fresh folder has nothing to go on; a folder
    /// whose steps ran under another config marks them to run, says why, and estimates each by
    /// its own recorded time; a new fine-tune size borrows the finetune rate per example of this
    /// folder, and a fresh run folder beside it the rates of its sibling, named as such.
    #[test]
    fn marks_and_estimates_come_from_records_here_or_beside() {
        let tmp = tempfile::tempdir().unwrap();
        let runs = tmp.path();
        let config = Config::default();
        let a = runs.join("a");
        let p = plan(&a);
        let f = forecast(&p, &Toy("1"), &config, None);
        assert!(f.steps.iter().all(|s| s.mark == Mark::ToRun(None)));
        assert_eq!(
            f.total_line(),
            "to run: 4 steps, no estimate (nothing recorded yet)"
        );
        // Everything ran once (wall times fabricated): all cached.
        execute(&p, &Toy("1"), None, &mut |_| {}).unwrap();
        set_wall(&a, "prepare/d", 10.0);
        set_wall(&a, "finetune/d/m/n50/s0", 100.0);
        set_wall(&a, "finetune/d/m/n100/s0", 200.0);
        set_wall(&a, "answer/d/m/n50/s0", 30.0);
        let f = forecast(&p, &Toy("1"), &config, None);
        assert!(f.steps.iter().all(|s| s.mark == Mark::Cached));
        assert_eq!(f.total_line(), "to run: nothing, 4 steps cached");
        // Another config: every step reruns, each estimated by its own record.
        let f = forecast(&p, &Toy("2"), &config, None);
        let why = Some("stale: config or inputs changed".to_string());
        assert_eq!(f.steps[0].mark, Mark::ToRun(why));
        assert_eq!(
            f.steps[1].mark,
            Mark::ToRun(Some("stale: a step it reads reruns".into()))
        );
        assert!(f.steps.iter().all(|s| s.basis == Basis::Recorded));
        assert_eq!(
            f.total_line(),
            "to run: 4 steps, ~6 min (4 from this folder's records)"
        );
        // --until finetune: the answer step is beyond it and not counted.
        let f = forecast(&p, &Toy("2"), &config, Some(StepKind::Finetune));
        assert_eq!(f.steps[3].mark, Mark::Beyond);
        assert_eq!(
            f.total_line(),
            "to run (--until finetune): 3 steps, ~5 min (3 from this folder's records)"
        );
        // A new size: n200 from the rate per example measured here (300 s / 150 examples).
        let mut p2 = p.clone();
        p2.steps.insert(
            3,
            Step {
                id: "finetune/d/m/n200/s0".into(),
                kind: StepKind::Finetune,
                deps: vec!["prepare/d".into()],
                output: "ft200".into(),
            },
        );
        let f = forecast(&p2, &Toy("1"), &config, None);
        let new = &f.steps[3];
        assert_eq!(new.mark, Mark::ToRun(None));
        assert_eq!(new.seconds, Some(400.0));
        assert_eq!(
            new.basis,
            Basis::Rate {
                kind: StepKind::Finetune,
                folders: vec![a.clone()]
            }
        );
        assert_eq!(
            f.total_line(),
            "to run: 1 step, ~7 min (1 from finetune rates measured in this folder)"
        );
        // A fresh folder beside it: finetunes and the answer from `a`'s rates; prepare too.
        let b = runs.join("b");
        let f = forecast(&plan(&b), &Toy("1"), &config, None);
        assert_eq!(f.steps[2].seconds, Some(200.0));
        assert_eq!(
            f.steps[3].seconds,
            Some(30.0),
            "no test size known: per step"
        );
        assert_eq!(
            f.total_line(),
            format!(
                "to run: 4 steps, ~6 min (1 from prepare rates measured in {a}, 2 from finetune \
                 rates measured in {a}, 1 from answer rates measured in {a})",
                a = a.display()
            )
        );
        // A kind never recorded anywhere has no estimate: the total is a lower bound.
        let mut p3 = plan(&b);
        p3.steps.push(Step {
            id: "compare".into(),
            kind: StepKind::Compare,
            deps: vec!["answer/d/m/n50/s0".into()],
            output: "comparison.json".into(),
        });
        let line = forecast(&p3, &Toy("1"), &config, None).total_line();
        assert!(
            line.starts_with("to run: 5 steps, ≥6 min (")
                && line.ends_with(", 1 with no estimate: no compare recorded yet)"),
            "{line}"
        );
    }

    #[test]
    fn durations_read_as_a_person_would_say_them() {
        assert_eq!(approx(0.3), "<1 s");
        assert_eq!(approx(42.4), "42 s");
        assert_eq!(approx(14.0 * 60.0), "14 min");
        assert_eq!(approx(9000.0), "2.5 h");
        assert_eq!(about(0.3, false), "<1 s");
        assert_eq!(about(840.0, false), "~14 min");
        assert_eq!(about(840.0, true), "≥14 min");
    }
}
