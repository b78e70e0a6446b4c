//! `steps/<id>/tracking.json`: which MLflow run a step's output was logged as. It lives beside the
//! step's record, never in its output folder, so no output hash changes; a rerun that finds the
//! same output hash logged on the same server logs nothing again.

use finefail_core::RunLayout;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The file name, in the step's record folder.
pub const FILE: &str = "tracking.json";

/// One logged step: the server, the MLflow run and the output it describes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Logged {
    /// The tracking server's base URL it was logged to.
    pub uri: String,
    /// The MLflow experiment id.
    pub experiment_id: String,
    /// The MLflow run id (for the report step: the comparison's run its artifacts joined).
    pub run_id: String,
    /// The run's artifact URI (where the report's artifacts go).
    #[serde(default)]
    pub artifact_uri: String,
    /// The step's output hash when it was logged: a rerun that made other output logs anew.
    pub output_hash: String,
}

/// Where step `id`'s tracking file is.
pub fn path(run_dir: &Path, id: &str) -> PathBuf {
    RunLayout::new(run_dir).step(id).join(FILE)
}

/// The tracking file at `path`, when there is a readable one.
pub fn read(path: &Path) -> Option<Logged> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

/// Writes the tracking file atomically.
pub fn write(path: &Path, logged: &Logged) -> Result<(), String> {
    let text = serde_json::to_string_pretty(logged).map_err(|e| e.to_string())?;
    finefail_core::atomic::write_file(path, text.as_bytes())
        .map_err(|e| format!("{}: {e}", path.display()))
}
