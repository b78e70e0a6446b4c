//! Progress display on stderr. Libraries report through callbacks; the binary draws here.
//!
//! - On a terminal: indicatif bars in one `MultiProgress` (for `finefail run`, the run's overall bar
//!   and a bar for the running step), a spinner while a task has no count yet.
//! - Anywhere else (a Slurm job's log, CI, `| tee`): no bars and no carriage returns, but one plain
//!   line per running task every [`INTERVAL_ENV`] milliseconds (default 10 s) saying what it is, how
//!   far it is and when it should end; a log that stays silent for minutes looks like a hang.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Milliseconds between two plain progress lines when stderr is not a terminal (tests set it low).
pub const INTERVAL_ENV: &str = "FINEFAIL_PROGRESS_INTERVAL_MS";
/// The interval when [`INTERVAL_ENV`] is unset: often enough to show life in a log, rarely enough
/// to keep a day-long job's log readable.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

/// The interval between plain lines: [`INTERVAL_ENV`] when it holds a positive number.
pub fn interval() -> Duration {
    std::env::var(INTERVAL_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&ms| ms > 0)
        .map_or(DEFAULT_INTERVAL, Duration::from_millis)
}

/// A lock that survives a panicked holder: progress display must never take the program down.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A duration as people read it: `12s`, `3m 05s`, `2h 10m`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{}h {:02}m", s / 3600, (s % 3600) / 60)
    }
}

/// The bars this process draws on a terminal, while a [`Display`] lives: where [`notice`] prints.
static LIVE: Mutex<Option<MultiProgress>> = Mutex::new(None);

/// A line from another thread (the Ctrl-C notice): above the bars while they are drawn (written
/// straight to the terminal it would break them), else a plain line; never a panic on a closed
/// stderr.
pub fn notice(line: &str) {
    match lock(&LIVE).as_ref() {
        Some(multi) => {
            let _ = multi.println(line);
        }
        None => {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "{line}");
        }
    }
}

/// Extra text appended to every plain line (`finefail run` adds the whole run's position and ETA).
pub type Context = Arc<dyn Fn() -> String + Send + Sync>;

/// What the plain-line ticker reads.
#[derive(Default)]
struct Shared {
    tasks: Vec<Task>,
    context: Option<Context>,
}

/// The progress display of one command: bars on a terminal, periodic plain lines elsewhere.
pub struct Display {
    multi: MultiProgress,
    shared: Arc<Mutex<Shared>>,
    plain: bool,
    ticker: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
}

impl Display {
    /// Bars when stderr is a terminal, plain lines otherwise.
    pub fn new() -> Self {
        Self::with_plain(!std::io::stderr().is_terminal())
    }

    fn with_plain(plain: bool) -> Self {
        let multi = if plain {
            MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
        } else {
            MultiProgress::with_draw_target(ProgressDrawTarget::stderr())
        };
        let shared = Arc::new(Mutex::new(Shared::default()));
        let ticker = plain.then(|| spawn_ticker(shared.clone(), interval()));
        if !plain {
            *lock(&LIVE) = Some(multi.clone());
        }
        Self {
            multi,
            shared,
            plain,
            ticker,
        }
    }

    /// A new task named `what` (a step id, "answering"), shown until [`Task::finish`].
    pub fn task(&self, what: &str) -> Task {
        let bar = self.multi.add(ProgressBar::no_length());
        let task = Task::new(bar, what, !self.plain);
        let mut shared = lock(&self.shared);
        shared.tasks.retain(|t| !t.is_finished());
        shared.tasks.push(task.clone());
        task
    }

    /// Adds a bar drawn above the tasks (`finefail run`'s overall bar); hidden in plain mode.
    pub fn add_top(&self, bar: ProgressBar) -> ProgressBar {
        self.multi.insert(0, bar)
    }

    /// A line above the bars (or a plain line), e.g. `done  prepare/tiny (1.2 s)`.
    pub fn println(&self, line: &str) {
        if self.plain {
            eprintln!("{line}");
        } else {
            let _ = self.multi.println(line);
        }
    }

    /// Text appended to every plain line from now on.
    pub fn set_context(&self, context: Context) {
        lock(&self.shared).context = Some(context);
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        if let Some((stop, handle)) = self.ticker.take() {
            drop(stop);
            let _ = handle.join();
        }
        let _ = self.multi.clear();
        if !self.plain {
            *lock(&LIVE) = None;
        }
    }
}

/// Prints every running task's plain line once per `every`, until the sender is dropped.
fn spawn_ticker(shared: Arc<Mutex<Shared>>, every: Duration) -> (mpsc::Sender<()>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel::<()>();
    let handle = std::thread::spawn(move || {
        while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(every) {
            let (tasks, context) = {
                let mut s = lock(&shared);
                s.tasks.retain(|t| !t.is_finished());
                (s.tasks.clone(), s.context.clone())
            };
            let extra = context.map(|c| c()).filter(|c| !c.is_empty());
            for t in tasks {
                let line = t.line(Instant::now());
                match &extra {
                    Some(x) => eprintln!("{line} · {x}"),
                    None => eprintln!("{line}"),
                }
            }
        }
    });
    (tx, handle)
}

/// What a task's plain line and ETA are computed from.
struct TaskState {
    what: String,
    unit: String,
    note: String,
    started: Instant,
    /// Since when the current count runs, and from which value (a resumed step starts above 0,
    /// and those units must not make the rate look faster than it is).
    counting: Option<(Instant, u64)>,
    done: u64,
    total: Option<u64>,
    finished: bool,
}

/// One long piece of work on the display: a bar (or spinner) on a terminal, a plain line in a log.
#[derive(Clone)]
pub struct Task {
    bar: ProgressBar,
    state: Arc<Mutex<TaskState>>,
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix} [{bar:28}] {pos}/{len} {msg} · {elapsed} · eta {eta}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {prefix} {msg} · {elapsed}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

impl Task {
    fn new(bar: ProgressBar, what: &str, draws: bool) -> Self {
        bar.set_style(spinner_style());
        bar.set_prefix(what.to_string());
        if draws {
            bar.enable_steady_tick(Duration::from_millis(150));
        }
        Self {
            bar,
            state: Arc::new(Mutex::new(TaskState {
                what: what.to_string(),
                unit: String::new(),
                note: String::new(),
                started: Instant::now(),
                counting: None,
                done: 0,
                total: None,
                finished: false,
            })),
        }
    }

    /// Reports `done` of `total` `unit`s (or a stage, with `total` None) and a note. A new unit, a
    /// new total or a count going back starts a new count: its rate and ETA start afresh.
    pub fn update(&self, done: u64, total: Option<u64>, unit: &str, note: &str) {
        let mut s = lock(&self.state);
        // The message first: a redraw triggered by the position must not show the old one.
        self.bar
            .set_message(match (unit.is_empty(), note.is_empty()) {
                (true, _) => note.to_string(),
                (false, true) => unit.to_string(),
                (false, false) => format!("{unit} · {note}"),
            });
        match total {
            Some(total) => {
                let restart = s.counting.is_none()
                    || s.total != Some(total)
                    || s.unit != unit
                    || done < s.done;
                if restart {
                    self.bar.set_style(bar_style());
                    self.bar.set_length(total);
                    self.bar.set_position(done);
                    self.bar.reset_eta();
                    s.counting = Some((Instant::now(), done));
                } else {
                    self.bar.set_position(done);
                }
            }
            None => {
                if s.counting.take().is_some() {
                    self.bar.set_style(spinner_style());
                }
            }
        }
        s.done = done;
        s.total = total;
        s.unit = unit.to_string();
        s.note = note.to_string();
    }

    /// Reports a stage without a count ("loading the model").
    pub fn stage(&self, note: &str) {
        self.update(0, None, "", note);
    }

    /// Removes the task from the display.
    pub fn finish(&self) {
        lock(&self.state).finished = true;
        self.bar.finish_and_clear();
    }

    fn is_finished(&self) -> bool {
        lock(&self.state).finished
    }

    /// Time left at the current rate; `None` before the count has moved.
    pub fn eta(&self, now: Instant) -> Option<Duration> {
        let s = lock(&self.state);
        let ((since, from), total) = (s.counting?, s.total?);
        let (moved, secs) = (
            s.done.saturating_sub(from),
            now.duration_since(since).as_secs_f64(),
        );
        if moved == 0 || secs <= 0.0 {
            return None;
        }
        let left = total.saturating_sub(s.done) as f64;
        Some(Duration::from_secs_f64(left * secs / moved as f64))
    }

    /// The plain line: `answer/tiny/m/n0: 12/50 questions (24 %) · 1m 02s · eta 3m 16s`.
    pub fn line(&self, now: Instant) -> String {
        let eta = self.eta(now);
        let s = lock(&self.state);
        let elapsed = human(now.duration_since(s.started));
        let note = if s.note.is_empty() {
            String::new()
        } else {
            format!(", {}", s.note)
        };
        match s.total {
            Some(total) if s.counting.is_some() => {
                let pct = if total == 0 {
                    100.0
                } else {
                    100.0 * s.done as f64 / total as f64
                };
                let eta = eta.map_or_else(|| "?".to_string(), human);
                format!(
                    "{}: {}/{total} {} ({pct:.0} %){note} · {elapsed} · eta {eta}",
                    s.what, s.done, s.unit
                )
            }
            _ if s.note.is_empty() => format!("{}: working · {elapsed}", s.what),
            _ => format!("{}: {} · {elapsed}", s.what, s.note),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hidden_task(what: &str) -> Task {
        Task::new(ProgressBar::hidden(), what, false)
    }

    #[test]
    fn human_durations() {
        assert_eq!(human(Duration::from_secs(7)), "7s");
        assert_eq!(human(Duration::from_secs(185)), "3m 05s");
        assert_eq!(human(Duration::from_secs(7800)), "2h 10m");
    }

    /// The plain line names the task, the count with its unit, the note and an ETA from the rate
    /// since the count started (a resumed count's first value is not taken as speed).
    #[test]
    fn plain_line_says_what_how_far_and_eta() {
        let t = hidden_task("answer/tiny/m/n0");
        t.stage("loading the model");
        let now = Instant::now();
        assert!(
            t.line(now)
                .starts_with("answer/tiny/m/n0: loading the model · "),
            "{}",
            t.line(now)
        );
        t.update(20, Some(100), "questions", "");
        let started = lock(&t.state).counting.unwrap().0;
        // 10 more questions in 5 s: 70 left take 35 s.
        t.update(30, Some(100), "questions", "");
        let line = t.line(started + Duration::from_secs(5));
        assert!(
            line.starts_with("answer/tiny/m/n0: 30/100 questions (30 %) · "),
            "{line}"
        );
        assert!(line.ends_with("eta 35s"), "{line}");
        assert!(!line.contains('\r'));
        // A new unit restarts the count (no ETA until it moves).
        t.update(0, Some(8), "judge calls", "scoring");
        assert!(t
            .line(Instant::now())
            .contains("0/8 judge calls (0 %), scoring"));
        assert!(t.line(Instant::now()).ends_with("eta ?"));
    }

    #[test]
    fn interval_reads_the_environment_with_a_default() {
        // Only reads: the variable is not set by this test binary's tests.
        if std::env::var_os(INTERVAL_ENV).is_none() {
            assert_eq!(interval(), DEFAULT_INTERVAL);
        }
    }
}
