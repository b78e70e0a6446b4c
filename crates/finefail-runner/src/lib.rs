//! The experiment runner: a TOML config describes a sweep (datasets × models × training sizes ×
//! seeds); the runner validates it, plans the step graph and (issue 6, in progress) runs the steps,
//! skipping those whose inputs' hash matches a finished output.

pub mod config;
pub mod engine;
pub mod error;
pub mod load;
pub mod plan;
pub mod slurm;
pub mod validate;
pub mod work;

pub use config::Config;
pub use error::{Result, RunnerError};
pub use load::load;
pub use plan::{plan, Plan, Step, STEP_KINDS};
