//! `prepare/{dataset}`: a dataset's raw input into canonical tables (`data/{dataset}/`).

use crate::config::Config;
use crate::error::{Result, RunnerError};
use crate::progress::{ProgressSink, StepProgress};
use finefail_data::{ColumnMap, PrepareOptions, SplitConfig};
use std::path::Path;

/// Prepares dataset `name` into `scratch`; the import reports its stages (reading, chunking,
/// splitting, writing), not a count.
pub fn run(config: &Config, name: &str, scratch: &Path, progress: ProgressSink) -> Result<()> {
    let d = config.dataset(name)?;
    let bad = |m: String| RunnerError::config("config", format!("dataset `{name}`: {m}"));
    let opts = PrepareOptions {
        format: d.format,
        input: d.input.clone(),
        out: scratch.to_path_buf(),
        name: Some(d.name.clone()),
        map: ColumnMap::parse(d.map.as_deref().unwrap_or("")).map_err(bad)?,
        split: SplitConfig {
            unit: d.split_unit,
            test_size: d.test_size,
            val_size: d.val_size,
            split_seed: d.split_seed,
            // No stored orders: each seed's is computed on demand (`Splits::train_subset`), so
            // this step's output does not depend on the sweep's seeds.
            seeds: Vec::new(),
        },
        chunking: config.chunking.chunk_config(),
        tokenizer: Some(config.retrieval.embedder.clone()),
    };
    finefail_data::prepare(&opts, &mut |stage| progress(StepProgress::stage(stage)))?;
    Ok(())
}
