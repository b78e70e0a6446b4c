//! Answers are written in parts, one Parquet file per batch of questions, so a killed answering
//! step resumes at the first missing part; the parts are merged into `answers.parquet` at the end.

use crate::error::Result;
use finefail_core::files;
use finefail_data::tables::{read_answers, write_answers};
use std::path::{Path, PathBuf};

/// The part file of batch `batch` under `parts`.
pub(crate) fn part_path(parts: &Path, batch: usize) -> PathBuf {
    parts.join(format!("part-{batch:05}.parquet"))
}

/// Concatenates parts `0..batches` in order into `out_dir/answers.parquet`; the number of answers.
pub(crate) fn merge_parts(parts: &Path, batches: usize, out_dir: &Path) -> Result<usize> {
    let mut all = Vec::new();
    for b in 0..batches {
        all.extend(read_answers(&part_path(parts, b))?);
    }
    write_answers(&out_dir.join(files::ANSWERS), &all)?;
    Ok(all.len())
}
