//! What `finefail run` shows while it runs: an overall bar over the steps that will actually run
//! (cached steps are counted apart, so skipping them never makes the ETA jump), a bar for the
//! running step in its own unit, and `start` / `done` lines.
//!
//! The bar's total is fixed before the first step and never changes. Before a run it is known
//! which steps are current; it is not known whether a step that reruns (stale code, an
//! interrupted step) will write the same output as before. When it does, a step reading it that
//! was counted to run turns out current after all: it is not run, but it still counts as one of
//! the steps worked through (a `skip` line), so the count printed first equals the `start` plus
//! `skip` lines (before, the total shrank mid-run: "42 steps to run" then "step 3/40"). The run's ETA adds, per step still to
//! run, the mean wall time of its kind (from this run's finished steps and the cached steps'
//! records), and the running step's own ETA once it counts. A kind with no time yet borrows the
//! mean over all kinds, and the ETA then reads `≥` (a fine-tune takes far longer than a prepare).

use crate::progress::{human, Display, Task};
use finefail_runner::engine::{read_record, record_path, Event};
use finefail_runner::{Plan, StepKind};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Wall times seen per step kind, and the steps still to run: what the run's ETA is made of.
#[derive(Debug, Default)]
pub struct RunEta {
    /// Steps predicted to run and not started yet.
    pending: BTreeMap<String, StepKind>,
    /// The running step: kind, start, and its own ETA when it counts.
    running: Option<(StepKind, Instant)>,
    /// Sum and count of wall times per kind.
    walls: BTreeMap<StepKind, (f64, usize)>,
    /// Steps run so far in this execution.
    done: usize,
    /// Steps counted to run that turned out current once what they read reran to the same
    /// output: worked through without running.
    unchanged: usize,
    /// Steps this execution works through: the count printed before the first step.
    to_run: usize,
    /// Steps whose outputs were current before the first step.
    cached: usize,
}

impl RunEta {
    /// The steps predicted to run (their outputs are not current), and how many are cached.
    pub fn new(to_run: impl IntoIterator<Item = (String, StepKind)>, cached: usize) -> Self {
        let pending: BTreeMap<String, StepKind> = to_run.into_iter().collect();
        Self {
            to_run: pending.len(),
            pending,
            cached,
            ..Self::default()
        }
    }

    /// Records a wall time of a step of `kind`.
    pub fn seen(&mut self, kind: StepKind, wall_s: f64) {
        let e = self.walls.entry(kind).or_insert((0.0, 0));
        e.0 += wall_s;
        e.1 += 1;
    }

    /// The mean wall time of `kind`, and whether it is its own (else the mean over all kinds).
    fn mean(&self, kind: StepKind) -> Option<(f64, bool)> {
        if let Some((sum, n)) = self.walls.get(&kind).filter(|w| w.1 > 0) {
            return Some((sum / *n as f64, true));
        }
        let (sum, n) = self
            .walls
            .values()
            .fold((0.0, 0), |(s, n), (ws, wn)| (s + ws, n + wn));
        (n > 0).then(|| (sum / n as f64, false))
    }

    /// Time left: the running step's (its own ETA, else its kind's mean less its elapsed time)
    /// plus each pending step's kind mean; and whether every kind had its own time (else the
    /// figure is a lower bound). `None` before any step time is known.
    pub fn remaining(
        &self,
        now: Instant,
        running_eta: Option<Duration>,
    ) -> Option<(Duration, bool)> {
        let (mut left, mut own) = (0.0, true);
        if let Some((kind, since)) = self.running {
            left += match running_eta {
                Some(d) => d.as_secs_f64(),
                None => {
                    let (mean, known) = self.mean(kind)?;
                    own &= known;
                    (mean - now.duration_since(since).as_secs_f64()).max(0.0)
                }
            };
        }
        for kind in self.pending.values() {
            let (mean, known) = self.mean(*kind)?;
            own &= known;
            left += mean;
        }
        Some((Duration::from_secs_f64(left), own))
    }

    /// The ETA as shown: `~4m 10s`, `≥4m 10s` (a lower bound), or `?`.
    pub fn eta(&self, now: Instant, running_eta: Option<Duration>) -> String {
        match self.remaining(now, running_eta) {
            None => "?".to_string(),
            Some((d, true)) => format!("~{}", human(d)),
            Some((d, false)) => format!("≥{}", human(d)),
        }
    }

    /// Steps worked through so far: run, or found current after all.
    fn position(&self) -> usize {
        self.done + self.unchanged
    }

    /// A step counted to run turned out current (what it reads reran to the same output):
    /// it counts as worked through, and the total stays. False for a step not counted to run.
    fn found_current(&mut self, id: &str) -> bool {
        let counted = self.pending.remove(id).is_some();
        if counted {
            self.unchanged += 1;
        }
        counted
    }

    /// A step starts: its 1-based position among the steps counted to run. A step that was
    /// current before the run cannot start unless its files changed under the run (the run
    /// folder is locked); should it happen, the total grows rather than the count lying.
    fn start(&mut self, id: &str, kind: StepKind, now: Instant) -> usize {
        if self.pending.remove(id).is_none() {
            self.to_run += 1;
            self.cached = self.cached.saturating_sub(1);
        }
        self.running = Some((kind, now));
        self.position() + 1
    }

    /// `run 3/12 steps (5 cached), eta ~4m 10s`.
    pub fn summary(&self, now: Instant, running_eta: Option<Duration>) -> String {
        format!(
            "run {}/{} steps ({} cached), eta {}",
            self.position(),
            self.to_run,
            self.cached,
            self.eta(now, running_eta)
        )
    }
}

/// The terminal (or log) side of one `finefail run`.
pub struct RunView {
    display: Display,
    overall: ProgressBar,
    eta: Arc<Mutex<RunEta>>,
    child: Arc<Mutex<Option<Task>>>,
    run_dir: PathBuf,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl RunView {
    /// A view of `plan`, where `to_run` are the steps whose outputs are not current.
    pub fn new(plan: &Plan, to_run: Vec<(String, StepKind)>, cached: usize) -> Self {
        let display = Display::new();
        let eta = Arc::new(Mutex::new(RunEta::new(to_run, cached)));
        let n = lock(&eta).to_run as u64;
        // Styled before it is added, so its first frame is already the right one.
        let overall = ProgressBar::hidden();
        overall.set_length(n);
        overall.set_style(
            ProgressStyle::with_template("{prefix} [{bar:28}] {pos}/{len} steps · {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        overall.set_prefix(format!("run {}", plan.name));
        overall.set_message(format!("{cached} cached · eta ?"));
        let overall = display.add_top(overall);
        let child: Arc<Mutex<Option<Task>>> = Arc::new(Mutex::new(None));
        {
            let (eta, child) = (eta.clone(), child.clone());
            display.set_context(Arc::new(move || {
                let now = Instant::now();
                let running = lock(&child).as_ref().and_then(|t| t.eta(now));
                lock(&eta).summary(now, running)
            }));
        }
        display.println(&format!(
            "run `{}`: {} steps to run, {cached} cached → {}",
            plan.name,
            n,
            plan.run_dir.display()
        ));
        let view = Self {
            display,
            overall,
            eta,
            child,
            run_dir: plan.run_dir.clone(),
        };
        view.refresh();
        view
    }

    fn refresh(&self) {
        let now = Instant::now();
        let running = lock(&self.child).as_ref().and_then(|t| t.eta(now));
        let eta = lock(&self.eta);
        self.overall.set_length(eta.to_run as u64);
        self.overall.set_position(eta.position() as u64);
        self.overall.set_message(format!(
            "{} cached · eta {}",
            eta.cached,
            eta.eta(now, running)
        ));
    }

    /// Draws one engine event.
    pub fn event(&self, event: Event) {
        match event {
            Event::Cached { step, .. } => {
                let wall =
                    read_record(&record_path(&self.run_dir, &step.id)).and_then(|r| r.wall_s);
                let (counted, index, to_run) = {
                    let mut eta = lock(&self.eta);
                    if let Some(w) = wall {
                        eta.seen(step.kind, w);
                    }
                    (eta.found_current(&step.id), eta.position(), eta.to_run)
                };
                if counted {
                    self.display.println(&format!(
                        "skip  {} (step {index}/{to_run}: what it reads reran to the same output, so it is current)",
                        step.id
                    ));
                }
            }
            Event::Start { step, .. } => {
                let (index, to_run) = {
                    let mut eta = lock(&self.eta);
                    let index = eta.start(&step.id, step.kind, Instant::now());
                    (index, eta.to_run)
                };
                self.display
                    .println(&format!("start {} (step {index}/{to_run})", step.id));
                let task = self.display.task(&step.id);
                task.stage("starting");
                *lock(&self.child) = Some(task);
            }
            Event::Progress { progress, .. } => {
                if let Some(t) = lock(&self.child).as_ref() {
                    t.update(progress.done, progress.total, progress.unit, &progress.note);
                }
            }
            Event::Done { step, wall_s } => {
                if let Some(t) = lock(&self.child).take() {
                    t.finish();
                }
                {
                    let mut eta = lock(&self.eta);
                    eta.running = None;
                    eta.done += 1;
                    eta.seen(step.kind, wall_s);
                }
                self.display
                    .println(&format!("done  {} ({wall_s:.1} s)", step.id));
            }
        }
        self.refresh();
    }

    /// Steps counted to run that turned out current after all (see the module doc).
    pub fn unchanged(&self) -> usize {
        lock(&self.eta).unchanged
    }

    /// Removes the bars (before the final summary is printed).
    pub fn finish(self) {
        if let Some(t) = lock(&self.child).take() {
            t.finish();
        }
        self.overall.finish_and_clear();
    }
}

/// The ids and kinds of the steps in `scope` whose outputs are not current: what a run will do.
pub fn to_run(
    steps: &[&finefail_runner::Step],
    current: &BTreeMap<String, String>,
) -> Vec<(String, StepKind)> {
    let ids: BTreeSet<&str> = current.keys().map(String::as_str).collect();
    steps
        .iter()
        .filter(|s| !ids.contains(s.id.as_str()))
        .map(|s| (s.id.clone(), s.kind))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cached steps never count as progress: the ETA comes from kind means and pending steps.
    #[test]
    fn eta_adds_kind_means_of_pending_steps() {
        let mut eta = RunEta::new(
            [
                ("finetune/a".to_string(), StepKind::Finetune),
                ("finetune/b".to_string(), StepKind::Finetune),
                ("answer/a".to_string(), StepKind::Answer),
            ],
            0,
        );
        let now = Instant::now();
        assert_eq!(eta.remaining(now, None), None, "nothing known yet");
        assert_eq!(eta.eta(now, None), "?");
        // A cached finetune of 100 s and an answer of 10 s (from their records).
        eta.seen(StepKind::Finetune, 100.0);
        eta.seen(StepKind::Answer, 10.0);
        assert_eq!(
            eta.remaining(now, None),
            Some((Duration::from_secs(210), true))
        );
        // finetune/a runs for 30 s with its own ETA of 60 s.
        eta.pending.remove("finetune/a");
        eta.running = Some((StepKind::Finetune, now));
        let later = now + Duration::from_secs(30);
        assert_eq!(
            eta.remaining(later, Some(Duration::from_secs(60))),
            Some((Duration::from_secs(170), true))
        );
        // Without its own ETA: the kind mean less the elapsed time.
        assert_eq!(
            eta.remaining(later, None),
            Some((Duration::from_secs(180), true))
        );
        assert_eq!(
            eta.summary(later, None),
            "run 0/3 steps (0 cached), eta ~3m 00s"
        );
        // A kind never seen borrows the mean over all kinds: a lower bound.
        eta.pending.insert("score/a".into(), StepKind::Score);
        assert_eq!(
            eta.remaining(later, None),
            Some((Duration::from_secs(235), false))
        );
        assert_eq!(eta.eta(later, None), "≥3m 55s");
    }

    /// A step counted to run that turns out current is worked through, never taken off the
    /// total; a step current before the run is not counted at all.
    #[test]
    fn a_counted_step_found_current_keeps_the_total() {
        let mut eta = RunEta::new(
            [
                ("prepare/d".to_string(), StepKind::Prepare),
                ("retrieve/d".to_string(), StepKind::Retrieve),
                ("finetune/d/m/n50/s0".to_string(), StepKind::Finetune),
            ],
            4,
        );
        let now = Instant::now();
        assert_eq!(eta.start("prepare/d", StepKind::Prepare, now), 1);
        eta.running = None;
        eta.done += 1;
        assert!(eta.found_current("retrieve/d"));
        assert!(!eta.found_current("compare"), "current before the run");
        assert_eq!(eta.start("finetune/d/m/n50/s0", StepKind::Finetune, now), 3);
        assert_eq!((eta.to_run, eta.cached, eta.unchanged), (3, 4, 1));
        assert!(eta
            .summary(now, None)
            .starts_with("run 2/3 steps (4 cached)"));
    }

    /// a → b → c, each writing a fixed text: b reruns (made by other code) to the same output,
    /// so c, counted to run before the first step, turns out current.
    struct Toy;

    impl finefail_runner::engine::StepWork for Toy {
        fn config_slice(
            &self,
            _: &finefail_runner::Step,
        ) -> finefail_runner::Result<serde_json::Value> {
            Ok(serde_json::json!({}))
        }
        fn run(
            &self,
            step: &finefail_runner::Step,
            _: &std::path::Path,
            scratch: &std::path::Path,
            _: finefail_runner::ProgressSink,
        ) -> finefail_runner::Result<()> {
            std::fs::write(scratch.join("out"), &step.id).unwrap();
            Ok(())
        }
    }

    /// The count printed before the first step equals the steps the run works through — `start`
    /// plus `skip` — on the case where it used to shrink mid-run (a rerun step writing the same
    /// output), and the bar's total never changes.
    #[test]
    fn the_count_printed_first_is_the_count_worked_through() {
        use finefail_runner::engine::{current_outputs, execute, Event};
        let tmp = tempfile::tempdir().unwrap();
        let step = |id: &str, kind, deps: &[&str]| finefail_runner::Step {
            id: id.into(),
            kind,
            deps: deps.iter().map(|d| d.to_string()).collect(),
            output: id.into(),
        };
        let plan = Plan {
            name: "toy".into(),
            run_dir: tmp.path().to_path_buf(),
            steps: vec![
                step("a", StepKind::Prepare, &[]),
                step("b", StepKind::Retrieve, &["a"]),
                step("c", StepKind::Compare, &["b"]),
            ],
            warnings: vec![],
        };
        execute(&plan, &Toy, None, &mut |_| {}).unwrap();
        // b was made by other code: it reruns, and c is counted to run behind it.
        let path = record_path(tmp.path(), "b");
        let mut rec: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        rec["code_version"] = "0.0.1+0ld0c0de".into();
        std::fs::write(&path, rec.to_string()).unwrap();
        let scope = plan.until(None);
        let pending = to_run(&scope, &current_outputs(&plan, &Toy).unwrap());
        let counted = pending.len();
        assert_eq!(counted, 2);
        let view = RunView::new(&plan, pending, scope.len() - counted);
        let (mut started, mut totals) = (0, BTreeSet::new());
        execute(&plan, &Toy, None, &mut |e| {
            started += usize::from(matches!(e, Event::Start { .. }));
            view.event(e);
            totals.insert(lock(&view.eta).to_run);
        })
        .unwrap();
        assert_eq!(
            started, 1,
            "only b runs; c is current once b wrote the same output"
        );
        assert_eq!(started + view.unchanged(), counted);
        assert_eq!(
            totals,
            BTreeSet::from([counted]),
            "the total changed mid-run"
        );
        assert_eq!(view.overall.length(), Some(counted as u64));
        assert_eq!(view.overall.position(), counted as u64);
        view.finish();
    }
}
