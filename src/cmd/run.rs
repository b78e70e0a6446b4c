//! `finefail run CONFIG`: plan, run (locally or on Slurm) or show the state of a whole experiment.

use crate::exit::BadInput;
use clap::Args;
use finefail_runner::engine::{current_outputs, execute, read_record, record_path, step_statuses};
use finefail_runner::forecast::forecast;
use finefail_runner::lock::RunLock;
use finefail_runner::manifest::write_manifest;
use finefail_runner::steps::LocalSteps;
use finefail_runner::tracking::Tracker;
use finefail_runner::{load, plan, StepKind};
use std::path::PathBuf;

mod plan_view;
mod power;
mod slurm;
mod verdicts;
mod view;

/// Arguments of `finefail run`.
#[derive(Args)]
pub struct RunArgs {
    /// The experiment config (experiments/NAME.toml).
    config: PathBuf,
    /// Override a config key, value parsed as TOML: `--set sweep.sizes=[0,50]`, `--set datasets.pubmedqa.test_size=60`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Validate the config and print the step graph, without running anything.
    #[arg(long)]
    plan: bool,
    /// With --plan: a finished run folder whose comparison.json gives the variance components the
    /// power section plans with (default: documented defaults per kind of metric).
    #[arg(long, value_name = "RUN_DIR", requires = "plan")]
    pilot: Option<PathBuf>,
    /// Stop after this kind of step (prepare retrieve finetune answer score compare report).
    #[arg(long)]
    until: Option<String>,
    /// local | slurm
    #[arg(long, default_value = "local")]
    executor: String,
    /// Print each step's state.
    #[arg(long)]
    status: bool,
    /// Where run folders live.
    #[arg(long, default_value = "experiments/runs")]
    runs_dir: PathBuf,
    /// Slurm partition (overrides [slurm] partition).
    #[arg(long)]
    partition: Option<String>,
    /// Slurm GPU request for finetune and answer steps, e.g. gpu:1 (overrides [slurm] gres).
    #[arg(long)]
    gres: Option<String>,
    /// Slurm time limit per job, HH:MM:SS (overrides [slurm] time).
    #[arg(long)]
    time: Option<String>,
    /// An extra sbatch argument for every job (repeatable), e.g. --sbatch-arg=--account=lab.
    #[arg(long = "sbatch-arg", value_name = "ARG", allow_hyphen_values = true)]
    sbatch_arg: Vec<String>,
    /// With --executor slurm: submit and return instead of waiting for the jobs.
    #[arg(long)]
    no_wait: bool,
    /// Reuse steps made by another code version (`stale: code OLD → NEW`) instead of rerunning
    /// them, when their config and inputs are unchanged; listed in manifest.json and the report.
    /// Local executor only.
    #[arg(long)]
    keep_stale: bool,
}

/// Runs `finefail run`.
pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let config = load(&args.config, &args.set)?;
    let until = until(&args)?;
    if !matches!(args.executor.as_str(), "local" | "slurm") {
        return Err(BadInput(format!(
            "--executor `{}` is unknown; use local or slurm",
            args.executor
        ))
        .into());
    }
    let p = plan(&config, &args.runs_dir);
    let local = || LocalSteps {
        keep_stale: args.keep_stale,
        ..LocalSteps::new(&config)
    };
    if args.keep_stale && (args.executor == "slurm" || (args.status && slurm::used(&p))) {
        return Err(BadInput(
            "--keep-stale works with the local executor only (Slurm jobs rerun stale steps)".into(),
        )
        .into());
    }
    if args.status {
        if args.executor == "slurm" || slurm::used(&p) {
            return slurm::status(&config, &p);
        }
        return print_status(&p, &local());
    }
    if args.plan {
        // Static and best effort: `--plan` never fails on what only a run can read.
        let forecast = forecast(&p, &local(), &config, until);
        plan_view::print_steps(&p, &forecast);
        print_memory_plan(&config);
        power::print(&config, args.pilot.as_deref())?;
        plan_view::print_total(&forecast);
        for w in &p.warnings {
            eprintln!("warning: {w}");
        }
        return Ok(());
    }
    let needs_models = until.is_none_or(|u| u > StepKind::Retrieve);
    if let Some(w) = p
        .warnings
        .iter()
        .find(|w| needs_models || !w.starts_with("model"))
    {
        return Err(BadInput(format!("{}: {w}", args.config.display())).into());
    }
    // One owner per run folder, local or Slurm submitter, until this function returns.
    let _lock = RunLock::acquire(&p.run_dir)?;
    // MLflow tracking ([tracking], docs/config.md): off when unset, one warning at most.
    let mut tracker = Tracker::new(&config, &p);
    if args.executor == "slurm" {
        let result = slurm::run(&args, &config, until);
        tracker.catch_up(&p);
        tracker.warning().inspect(|w| eprintln!("warning: {w}"));
        return result;
    }
    // Ctrl-C / SIGTERM from here on stop at a safe point (docs/exit-codes.md).
    crate::interrupt::install();
    let steps = local();
    let started = std::time::Instant::now();
    let scope = p.until(until);
    let current = current_outputs(&p, &steps)?;
    let pending = view::to_run(&scope, &current);
    let cached = scope.len() - pending.len();
    let view = view::RunView::new(&p, pending, cached);
    let summary = execute(&p, &steps, until, &mut |event| {
        tracker.event(&event);
        view.event(event)
    });
    let unchanged = view.unchanged();
    view.finish();
    tracker.warning().inspect(|w| eprintln!("warning: {w}"));
    let summary = summary?;
    write_manifest(&p.run_dir, &config, &summary)?;
    // Steps counted to run but current once what they read reran to the same output.
    let after_all = match unchanged {
        0 => String::new(),
        n => format!(" ({n} of them current once what they read reran)"),
    };
    let kept = match summary.kept.len() {
        0 => String::new(),
        n => format!(" ({n} kept although made by other code: manifest.json, kept_stale)"),
    };
    eprintln!(
        "run `{}`: {} steps ran, {} cached{after_all}{kept}, {:.1} s → {}",
        p.name,
        summary.ran.len(),
        summary.cached.len(),
        started.elapsed().as_secs_f64(),
        p.run_dir.display()
    );
    if until.is_none_or(|u| u >= StepKind::Compare) {
        verdicts::print(&p.run_dir)?;
    }
    Ok(())
}

/// `--until`, checked: a step kind's name.
fn until(args: &RunArgs) -> anyhow::Result<Option<StepKind>> {
    match &args.until {
        None => Ok(None),
        Some(u) => Ok(Some(
            u.parse()
                .map_err(|e: String| BadInput(format!("--until {e}")))?,
        )),
    }
}

/// `--status`: each step's state against this binary and the current inputs (`done`, `kept`
/// with why under `--keep-stale`, `stale` with why, `running`, `interrupted`, `failed`,
/// `pending`) and its recorded wall time.
fn print_status(p: &finefail_runner::Plan, steps: &LocalSteps) -> anyhow::Result<()> {
    for (id, status) in step_statuses(p, steps)? {
        let rec = read_record(&record_path(&p.run_dir, &id));
        let wall = rec
            .as_ref()
            .and_then(|r| r.wall_s)
            .map(|w| format!("{w:.1} s"))
            .unwrap_or_default();
        let why = match status.why() {
            Some(why) if status.word() == "kept" => format!("({why})"),
            why => why.unwrap_or_default(),
        };
        let line = format!("{:<11} {id:<50} {wall:<9} {why}", status.word());
        println!("{}", line.trim_end());
    }
    Ok(())
}

/// `--plan`'s memory section: the estimated peak of each model's fine-tune and answer steps.
fn print_memory_plan(config: &finefail_runner::Config) {
    let (lines, skipped) = finefail_runner::memory_plan::memory_plan(config);
    if lines.is_empty() && skipped.is_empty() {
        return;
    }
    println!("  memory (estimated peak per step; docs/precision.md)");
    for l in &lines {
        println!(
            "    {}",
            finefail_runner::memory_plan::describe(l, config.device_memory_gb)
        );
    }
    for s in &skipped {
        println!("    {s}");
    }
}
