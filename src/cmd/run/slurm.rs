//! `finefail run CONFIG --executor slurm`: submit the pending steps as Slurm jobs, then (unless
//! `--no-wait`) poll until they have finished; and `--status` with each step's job and log.

use super::RunArgs;
use crate::exit::BadInput;
use finefail_runner::config::Slurm;
use finefail_runner::engine::{read_record, record_path, RunSummary};
use finefail_runner::manifest::write_manifest;
use finefail_runner::slurm::{self, cluster, SlurmOptions, WaitEvent};
use finefail_runner::steps::LocalSteps;
use finefail_runner::{Config, Plan, StepKind};
use std::path::Path;
use std::time::{Duration, Instant};

/// How often a waiting runner asks `squeue`.
const POLL: Duration = Duration::from_secs(2);

/// True when any step of the plan has been submitted to Slurm (so `--status` shows jobs).
pub fn used(p: &Plan) -> bool {
    p.steps
        .iter()
        .any(|s| slurm::read_job(&p.run_dir, &s.id).is_some())
}

fn absolute(p: &Path) -> anyhow::Result<std::path::PathBuf> {
    Ok(std::path::absolute(p)?)
}

fn options(
    args: &RunArgs,
    config: &Config,
    until: Option<StepKind>,
) -> anyhow::Result<SlurmOptions> {
    let mut resources: Slurm = config.slurm.clone();
    if let Some(p) = &args.partition {
        resources.partition = Some(p.clone());
    }
    if let Some(g) = &args.gres {
        resources.gres = Some(g.clone());
    }
    if let Some(t) = &args.time {
        resources.time = t.clone();
    }
    resources
        .sbatch_args
        .extend(args.sbatch_arg.iter().cloned());
    Ok(SlurmOptions {
        binary: std::env::current_exe()?,
        config_path: absolute(&args.config)?,
        sets: args.set.clone(),
        runs_dir: absolute(&args.runs_dir)?,
        workdir: std::env::current_dir()?,
        until,
        resources,
    })
}

/// Submits the plan's pending steps and, unless `--no-wait`, waits for them.
pub fn run(args: &RunArgs, config: &Config, until: Option<StepKind>) -> anyhow::Result<()> {
    let opts = options(args, config, until)?;
    // Jobs on other nodes address the run by absolute paths: plan from the absolute runs dir.
    let p = finefail_runner::plan(config, &opts.runs_dir);
    let steps = LocalSteps::new(config);
    let started = Instant::now();
    let sub = slurm::submit(&p, &steps, &opts)?;
    for (id, job) in &sub.submitted {
        eprintln!("submitted {id} (job {job})");
    }
    for (id, job) in &sub.queued {
        eprintln!("queued    {id} (job {job}, from an earlier submission)");
    }
    eprintln!(
        "run `{}`: {} submitted, {} already queued, {} cached → {}",
        p.name,
        sub.submitted.len(),
        sub.queued.len(),
        sub.cached.len(),
        p.run_dir.display()
    );
    if args.no_wait {
        eprintln!(
            "not waiting (--no-wait); follow it with `finefail run {} --status`",
            args.config.display()
        );
        return Ok(());
    }
    let jobs = sub.jobs();
    slurm::wait(&p, &steps, &jobs, POLL, &mut |e| {
        match e {
        WaitEvent::Done { id, job_id } => eprintln!(
            "done  {id} (job {job_id}, {:.0} s)",
            started.elapsed().as_secs_f64()
        ),
        WaitEvent::Progress {
            done,
            running,
            pending,
            total,
        } => eprintln!("waiting: {done}/{total} done, {running} running, {pending} queued"),
        WaitEvent::Stalled { reason, pending } => eprintln!(
            "warning: nothing runs and Slurm cannot start the {pending} queued job(s): {reason} (a drained or down node? see `sinfo -R`); waiting {} min more",
            slurm::UNSCHEDULABLE_GRACE.as_secs() / 60
        ),
    }
    })?;
    let records = p
        .until(opts.until)
        .iter()
        .filter_map(|s| read_record(&record_path(&p.run_dir, &s.id)))
        .collect();
    let summary = RunSummary {
        ran: sub.submitted.iter().map(|(id, _)| id.clone()).collect(),
        cached: sub.cached.clone(),
        records,
        kept: Vec::new(),
    };
    write_manifest(&p.run_dir, config, &summary)?;
    eprintln!(
        "run `{}`: {} jobs finished, {:.1} s → {}",
        p.name,
        jobs.len(),
        started.elapsed().as_secs_f64(),
        p.run_dir.display()
    );
    if opts.until.is_none_or(|u| u >= StepKind::Compare) {
        super::verdicts::print(&p.run_dir)?;
    }
    Ok(())
}

/// Prints each step's state, Slurm job and log; failed steps with their log's last lines.
pub fn status(config: &Config, p: &Plan) -> anyhow::Result<()> {
    let queue = match cluster::queue() {
        Ok(q) => Some(q),
        Err(e) => {
            eprintln!("warning: {e}; job states come from the step markers only");
            None
        }
    };
    let steps = LocalSteps::new(config);
    let rows = slurm::status(p, &steps, queue.as_ref()).map_err(|e| BadInput(e.to_string()))?;
    for r in rows {
        let job = r.job_id.as_deref().unwrap_or("-");
        let log = r
            .log
            .as_ref()
            .map(|l| l.display().to_string())
            .unwrap_or_default();
        println!("{:<8} {:<50} job {job:<8} {log}", r.state, r.id);
        for l in &r.tail {
            println!("         | {l}");
        }
    }
    Ok(())
}
