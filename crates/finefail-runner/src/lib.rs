//! The experiment runner: a TOML config describes a sweep (datasets × models × training sizes ×
//! seeds); the runner validates it, plans the step graph and runs the steps, locally or on Slurm,
//! skipping those whose inputs' hash matches a finished output, and writes the run's manifest.

pub mod arm;
pub mod config;
pub mod engine;
pub mod error;
pub mod fault;
pub mod forecast;
pub mod kind;
pub mod load;
pub mod lock;
pub mod manifest;
pub mod memory_plan;
pub mod missing_path;
pub mod plan;
pub mod power_plan;
pub mod progress;
pub mod slurm;
pub mod steps;
pub mod tracking;
pub mod validate;

pub use config::Config;
pub use error::{Result, RunnerError};
pub use kind::StepKind;
pub use load::load;
pub use plan::{plan, Plan, Step};
pub use progress::{ProgressSink, StepProgress};
