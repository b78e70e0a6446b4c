//! `finefail run CONFIG`: plan (and, once issue 6 lands, run) a whole experiment.

use crate::exit::BadInput;
use clap::Args;
use finefail_runner::engine::{execute, execute_scope, read_record, record_path, Event, Scope};
use finefail_runner::work::LocalWork;
use finefail_runner::{load, plan, STEP_KINDS};
use std::path::PathBuf;

mod slurm;

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
}

/// Runs `finefail run`.
pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let config = load(&args.config, &args.set)?;
    if let Some(u) = &args.until {
        if !STEP_KINDS.contains(&u.as_str()) {
            return Err(BadInput(format!(
                "--until `{u}` is not a step kind; use one of {}",
                STEP_KINDS.join(", ")
            ))
            .into());
        }
    }
    if !matches!(args.executor.as_str(), "local" | "slurm") {
        return Err(BadInput(format!(
            "--executor `{}` is unknown; use local or slurm",
            args.executor
        ))
        .into());
    }
    let p = plan(&config, &args.runs_dir);
    if args.status {
        if args.executor == "slurm" || slurm::used(&p) {
            return slurm::status(&config, &p);
        }
        print_status(&p);
        return Ok(());
    }
    if args.plan {
        println!(
            "plan `{}` → {} ({} steps)",
            p.name,
            p.run_dir.display(),
            p.steps.len()
        );
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
    let until = args.until.as_deref();
    let needs_models = until.is_none_or(|u| !matches!(u, "prepare" | "retrieve"));
    if let Some(w) = p
        .warnings
        .iter()
        .find(|w| needs_models || !w.starts_with("model"))
    {
        return Err(BadInput(format!("{}: {w}", args.config.display())).into());
    }
    if args.executor == "slurm" {
        return slurm::run(&args, &config);
    }
    let work = LocalWork::new(&config);
    let bar = crate::progress::bar(0, "steps");
    let started = std::time::Instant::now();
    let summary = execute(&p, &work, until, &mut |event| match event {
        Event::Start { step, index, total } => {
            bar.set_length(total as u64);
            bar.set_position(index as u64);
            bar.set_message(step.id.clone());
        }
        Event::Cached { index, total, .. } => {
            bar.set_length(total as u64);
            bar.set_position(index as u64 + 1);
        }
        Event::Done { step, wall_s } => {
            bar.inc(1);
            bar.println(format!("done  {} ({wall_s:.1} s)", step.id));
        }
    });
    bar.finish_and_clear();
    let summary = summary?;
    write_manifest(&p.run_dir, &config, &work.config_hash, &summary)?;
    eprintln!(
        "run `{}`: {} steps ran, {} cached, {:.1} s → {}",
        p.name,
        summary.ran.len(),
        summary.cached.len(),
        started.elapsed().as_secs_f64(),
        p.run_dir.display()
    );
    Ok(())
}

fn print_status(p: &finefail_runner::Plan) {
    for s in &p.steps {
        let rec = read_record(&record_path(&p.run_dir, &s.id));
        let state = rec.as_ref().map(|r| r.state.as_str()).unwrap_or("pending");
        let wall = rec
            .as_ref()
            .and_then(|r| r.wall_s)
            .map(|w| format!("{w:.1} s"))
            .unwrap_or_default();
        println!("{state:<8} {:<50} {wall}", s.id);
    }
}

/// `manifest.json`: config and its hash, versions, git commit, seeds, every step's artefact hash
/// and wall time — so every result file can be traced to what made it.
fn write_manifest(
    run_dir: &std::path::Path,
    config: &finefail_runner::Config,
    config_hash: &str,
    summary: &finefail_runner::engine::RunSummary,
) -> anyhow::Result<()> {
    let git = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let steps: Vec<_> = summary
        .records
        .iter()
        .map(|r| serde_json::json!({"id": r.id, "kind": r.kind, "state": r.state, "input_hash": r.input_hash, "output_sha256": r.output_hash, "wall_s": r.wall_s}))
        .collect();
    let manifest = serde_json::json!({
        "config": config,
        "config_hash": config_hash,
        "finefail_version": env!("CARGO_PKG_VERSION"),
        "git_commit": git,
        "seeds": config.sweep.seeds,
        "steps": steps,
    });
    let path = run_dir.join("manifest.json");
    let tmp = run_dir.join(".manifest.json.tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(&manifest)?)?;
    std::fs::rename(&tmp, &path)?;
    Ok(())
}

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

/// Runs one step whose dependencies are done (a cached step returns at once).
pub fn step(args: StepArgs) -> anyhow::Result<()> {
    let config = load(&args.config, &args.set)?;
    let p = plan(&config, &args.runs_dir);
    let work = LocalWork::new(&config);
    let summary = execute_scope(&p, &work, Scope::Only(&args.id), &mut |_| {})?;
    let state = if summary.ran.iter().any(|s| s == &args.id) {
        "done"
    } else {
        "cached"
    };
    eprintln!("step {}: {state}", args.id);
    Ok(())
}
