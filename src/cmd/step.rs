//! `finefail step CONFIG --id ID` (hidden): one step of a plan, as an external scheduler (the
//! Slurm executor) runs it.

use clap::Args;
use finefail_runner::engine::{execute_scope, Event, Scope};
use finefail_runner::steps::LocalSteps;
use finefail_runner::{load, plan};
use std::path::PathBuf;

/// Arguments of the hidden `finefail step`: one step of a plan, as an external scheduler runs it.
#[derive(Args)]
pub struct StepArgs {
    /// The experiment config.
    config: PathBuf,
    /// The step id, as `finefail run CONFIG --plan` prints it.
    #[arg(long)]
    id: String,
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    #[arg(long, default_value = "experiments/runs")]
    runs_dir: PathBuf,
}

/// Runs one step whose dependencies are done (a cached step returns at once). Its progress goes
/// to stderr — under Slurm the job's log, so as plain lines every interval.
pub fn run(args: StepArgs) -> anyhow::Result<()> {
    let config = load(&args.config, &args.set)?;
    let p = plan(&config, &args.runs_dir);
    // scancel and a time limit send SIGTERM: the step stops at a safe point (a fine-tune
    // checkpoints), so the rerun continues from there.
    crate::interrupt::install();
    let steps = LocalSteps::new(&config);
    let display = crate::progress::Display::new();
    let task = display.task(&args.id);
    let summary = execute_scope(&p, &steps, Scope::Only(&args.id), &mut |event| {
        if let Event::Progress { step, progress } = event {
            if step.id == args.id {
                task.update(progress.done, progress.total, progress.unit, &progress.note);
            }
        }
    });
    task.finish();
    drop(display);
    let summary = summary?;
    let state = if summary.ran.iter().any(|s| s == &args.id) {
        "done"
    } else {
        "cached"
    };
    eprintln!("step {}: {state}", args.id);
    Ok(())
}
