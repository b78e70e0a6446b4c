//! Optional experiment tracking: with `[tracking] mlflow_uri` (or `MLFLOW_TRACKING_URI`) every
//! finished fine-tune, arm score and comparison of a study is logged to an MLflow server, under
//! one experiment named after the run, through MLflow's REST API 2.0 — so a study can be browsed
//! beside a team's other experiments without changing what finefail writes.
//!
//! Tracking never decides anything about the study: it reads finished outputs from the run folder
//! after their step, keeps which MLflow run each step became in `steps/<id>/tracking.json` (not in
//! the output, so no hash changes; a rerun that reuses a cached step logs nothing again), and the
//! first failure — a server that is down, slow (a bounded timeout) or rejects a call — turns it
//! off for the rest of the run with one warning, never an error.

pub mod client;
pub mod content;
pub mod logged;

use crate::config::Config;
use crate::engine::{read_record, record_path, Event, StepState};
use crate::kind::StepKind;
use crate::plan::{Plan, Step};
use client::{Batch, Client, RunInfo};
use finefail_core::files;
use logged::Logged;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The environment variable MLflow's own clients read, used when the config sets no URI.
pub const ENV_URI: &str = "MLFLOW_TRACKING_URI";
/// How long connecting to the tracking server may take before tracking turns itself off.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one call to the tracking server may take, reply included.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The artifacts of the report step attached to the comparison's MLflow run: (file under the run
/// folder, artifact path).
const REPORT_ARTIFACTS: &[(&str, &str)] = &[
    ("report/report.html", "report/report.html"),
    ("report/plots/forest.png", "report/plots/forest.png"),
];

/// Logs a run's finished steps to MLflow, or does nothing (tracking unset, or off after a
/// failure). The binary feeds it the engine's events ([`Tracker::event`]) or, after Slurm jobs,
/// walks the plan ([`Tracker::catch_up`]), and prints [`Tracker::warning`] once.
pub struct Tracker {
    server: Option<Server>,
    warning: Option<String>,
    config: Config,
    run_dir: PathBuf,
    experiment: String,
    experiment_id: Option<String>,
}

/// The live connection: a client and its URI.
struct Server {
    uri: String,
    client: Client,
}

impl Tracker {
    /// The tracker of `plan` under `config`, with the default timeouts; off when neither
    /// `[tracking] mlflow_uri` nor `MLFLOW_TRACKING_URI` names a server.
    pub fn new(config: &Config, plan: &Plan) -> Self {
        Self::with_timeouts(config, plan, CONNECT_TIMEOUT, CALL_TIMEOUT)
    }

    /// [`Tracker::new`] with other timeouts (tests use short ones).
    pub fn with_timeouts(config: &Config, plan: &Plan, connect: Duration, call: Duration) -> Self {
        let uri = config
            .tracking
            .mlflow_uri
            .clone()
            .or_else(|| std::env::var(ENV_URI).ok())
            .filter(|u| !u.trim().is_empty());
        let mut tracker = Self {
            server: None,
            warning: None,
            config: config.clone(),
            run_dir: plan.run_dir.clone(),
            experiment: plan.name.clone(),
            experiment_id: None,
        };
        if let Some(uri) = uri {
            match Client::new(&uri, connect, call) {
                Ok(client) => tracker.server = Some(Server { uri, client }),
                Err(e) => tracker.warning = Some(format!("MLflow tracking off: {e}")),
            }
        }
        tracker
    }

    /// Whether steps are being logged (set, and no failure yet).
    pub fn is_on(&self) -> bool {
        self.server.is_some()
    }

    /// The one warning of the run, when tracking failed (or its URI is unusable).
    pub fn warning(&self) -> Option<&str> {
        self.warning.as_deref()
    }

    /// Hears an engine event: a step that finished or was found cached is logged unless it
    /// already was.
    pub fn event(&mut self, event: &Event) {
        match event {
            Event::Done { step, .. } | Event::Cached { step, .. } => self.step(step),
            _ => {}
        }
    }

    /// Logs every done step of `plan` not logged yet, in plan order (after an executor that runs
    /// steps elsewhere, such as Slurm).
    pub fn catch_up(&mut self, plan: &Plan) {
        for step in &plan.steps {
            self.step(step);
        }
    }

    /// Logs `step` when it is done, of a tracked kind and not logged with its current output;
    /// the first failure turns tracking off with the run's one warning.
    pub fn step(&mut self, step: &Step) {
        if !matches!(
            step.kind,
            StepKind::Finetune | StepKind::Score | StepKind::Compare | StepKind::Report
        ) {
            return;
        }
        let Some(server) = &self.server else { return };
        let uri = server.uri.clone();
        if let Err(e) = self.log(step, &uri) {
            self.server = None;
            self.warning = Some(format!(
                "MLflow tracking at {uri} failed, so it is off for the rest of this run (the study goes on): {e}"
            ));
        }
    }

    /// Logs one step (see [`Tracker::step`]).
    fn log(&mut self, step: &Step, uri: &str) -> Result<(), String> {
        let Some(record) = read_record(&record_path(&self.run_dir, &step.id)) else {
            return Ok(());
        };
        let Some(output_hash) = record.output_hash.clone().filter(|_| {
            record.state == StepState::Done && self.run_dir.join(&step.output).exists()
        }) else {
            return Ok(());
        };
        let marker = logged::path(&self.run_dir, &step.id);
        if logged::read(&marker).is_some_and(|l| l.uri == uri && l.output_hash == output_hash) {
            return Ok(());
        }
        if step.kind == StepKind::Report {
            return self.log_report(&marker, uri, output_hash);
        }
        let (batch, artifacts): (Batch, &[(&str, &str)]) = match step.kind {
            StepKind::Finetune => (content::finetune(&self.config, step, &self.run_dir), &[]),
            StepKind::Score => (content::score(step, &self.run_dir)?, &[]),
            _ => (
                content::comparison(step, &self.run_dir)?,
                &[(files::COMPARISON, files::COMPARISON)],
            ),
        };
        let experiment_id = self.experiment_id()?;
        let mut tags = vec![
            ("finefail.step".to_string(), step.id.clone()),
            ("finefail.kind".to_string(), step.kind.as_str().to_string()),
            ("finefail.output_hash".to_string(), output_hash.clone()),
            (
                "finefail.run_dir".to_string(),
                absolute(&self.run_dir).display().to_string(),
            ),
        ];
        if let Some(code) = &record.code_version {
            tags.push(("finefail.code_version".into(), code.clone()));
        }
        let client = &self.server_ref()?.client;
        let run = client.create_run(&experiment_id, &step.id, &tags)?;
        client.log_batch(&run.run_id, &batch)?;
        upload(client, &run, &self.run_dir, artifacts)?;
        client.finish(&run.run_id)?;
        logged::write(
            &marker,
            &Logged {
                uri: uri.to_string(),
                experiment_id,
                run_id: run.run_id,
                artifact_uri: run.artifact_uri,
                output_hash,
            },
        )
    }

    /// The report's page and forest plot, attached to the comparison's MLflow run (nothing when
    /// the comparison was not logged to this server).
    fn log_report(&mut self, marker: &Path, uri: &str, output_hash: String) -> Result<(), String> {
        let compare = logged::path(&self.run_dir, StepKind::Compare.as_str());
        let Some(cmp) = logged::read(&compare).filter(|l| l.uri == uri) else {
            return Ok(());
        };
        let run = RunInfo {
            run_id: cmp.run_id.clone(),
            artifact_uri: cmp.artifact_uri.clone(),
        };
        upload(
            &self.server_ref()?.client,
            &run,
            &self.run_dir,
            REPORT_ARTIFACTS,
        )?;
        logged::write(marker, &Logged { output_hash, ..cmp })
    }

    /// The experiment's id, looked up (or created) once per run.
    fn experiment_id(&mut self) -> Result<String, String> {
        if let Some(id) = &self.experiment_id {
            return Ok(id.clone());
        }
        let id = self.server_ref()?.client.experiment(&self.experiment)?;
        self.experiment_id = Some(id.clone());
        Ok(id)
    }

    fn server_ref(&self) -> Result<&Server, String> {
        self.server
            .as_ref()
            .ok_or_else(|| "tracking is off".to_string())
    }
}

/// Uploads the `artifacts` that exist under `run_dir` to `run` (a server that does not proxy
/// artifacts gets none).
fn upload(
    client: &Client,
    run: &RunInfo,
    run_dir: &Path,
    artifacts: &[(&str, &str)],
) -> Result<(), String> {
    for (file, name) in artifacts {
        let path = run_dir.join(file);
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        if !client.upload(run, name, &bytes)? {
            return Ok(());
        }
    }
    Ok(())
}

/// `path` made absolute from the working directory (the tag that says where the run folder is).
fn absolute(path: &Path) -> PathBuf {
    std::env::current_dir()
        .map(|d| d.join(path))
        .unwrap_or_else(|_| path.to_path_buf())
}
