//! `finefail run CONFIG`: plan (and, once issue 6 lands, run) a whole experiment.

use crate::exit::BadInput;
use clap::Args;
use finefail_runner::{load, plan, STEP_KINDS};
use std::path::PathBuf;

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
}

/// Runs `finefail run`.
pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let config = load(&args.config, &args.set)?;
    if let Some(u) = &args.until {
        if !STEP_KINDS.contains(&u.as_str()) {
            return Err(BadInput(format!("--until `{u}` is not a step kind; use one of {}", STEP_KINDS.join(", "))).into());
        }
    }
    if !matches!(args.executor.as_str(), "local" | "slurm") {
        return Err(BadInput(format!("--executor `{}` is unknown; use local or slurm", args.executor)).into());
    }
    let p = plan(&config, &args.runs_dir);
    if args.plan {
        println!("plan `{}` → {} ({} steps)", p.name, p.run_dir.display(), p.steps.len());
        for kind in STEP_KINDS {
            let steps: Vec<_> = p.steps.iter().filter(|s| s.kind == kind).collect();
            if steps.is_empty() {
                continue;
            }
            println!("  {kind} ({})", steps.len());
            for s in steps {
                println!("    {}", s.id);
            }
        }
        for w in &p.warnings {
            eprintln!("warning: {w}");
        }
        return Ok(());
    }
    anyhow::bail!(
        "running experiments is not available yet: the runner's step execution (issue 6) is still being built; \
         `finefail run {} --plan` validates the config and shows the steps",
        args.config.display()
    )
}
