//! `prepare/{dataset}`: a dataset's raw input into canonical tables (`data/{dataset}/`).

use crate::config::Config;
use crate::error::{Result, RunnerError};
use crate::progress::{ProgressSink, StepProgress};
use finefail_data::{
    ChunkConfig, ChunkUnit, ColumnMap, Format, PrepareOptions, SplitConfig, SplitUnit,
};
use std::path::Path;

/// Prepares dataset `name` into `scratch`; the import reports its stages (reading, chunking,
/// splitting, writing), not a count.
pub fn run(config: &Config, name: &str, scratch: &Path, progress: ProgressSink) -> Result<()> {
    let d = config.dataset(name)?;
    let bad = |m: String| RunnerError::config("config", format!("dataset `{name}`: {m}"));
    let opts = PrepareOptions {
        format: Format::parse(&d.format).map_err(bad)?,
        input: d.input.clone(),
        out: scratch.to_path_buf(),
        name: Some(d.name.clone()),
        map: ColumnMap::parse(d.map.as_deref().unwrap_or("")).map_err(bad)?,
        split: SplitConfig {
            unit: SplitUnit::parse(&d.split_unit).map_err(bad)?,
            test_size: d.test_size,
            val_size: d.val_size,
            split_seed: d.split_seed,
            seeds: config.sweep.seeds.clone(),
        },
        chunking: ChunkConfig {
            unit: ChunkUnit::parse(&config.chunking.unit).map_err(bad)?,
            size: config.chunking.size,
            overlap: config.chunking.overlap,
        },
        tokenizer: Some(config.retrieval.embedder.clone()),
    };
    finefail_data::prepare(&opts, &mut |stage| progress(StepProgress::stage(stage)))?;
    Ok(())
}
