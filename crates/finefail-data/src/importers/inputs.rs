//! Which files an `--input` path stands for: a file is itself; a folder is the format's default
//! files when present (e.g. PubMedQA's `pqal/test.jsonl` + `pqaa/test.jsonl`), else every file with
//! the format's extension under it (sorted, `*-tiny.*` samples skipped).

use super::raw::Locator;
use crate::error::{DataError, Result};
use std::path::{Path, PathBuf};

/// One input file and its name relative to `--input` without extension (used in ids).
#[derive(Debug, Clone)]
pub struct InputFile {
    pub path: PathBuf,
    pub relative: String,
}

impl InputFile {
    /// The locator of the record at 1-based `line` of this JSONL file.
    pub fn at(&self, line: usize) -> Locator {
        self.at_unit(line, "line")
    }

    /// The locator of the 1-based `n`-th record of this file, counted in `unit`s.
    pub fn at_unit(&self, n: usize, unit: &'static str) -> Locator {
        Locator {
            file: self.path.clone(),
            relative: self.relative.clone(),
            line: n,
            unit,
        }
    }
}

/// Resolves `input` into the files to read, in a stable order.
pub fn resolve(input: &Path, defaults: &[&str], extensions: &[&str]) -> Result<Vec<InputFile>> {
    let meta = std::fs::metadata(input).map_err(|e| DataError::io(input, e))?;
    if meta.is_file() {
        let stem = input
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        return Ok(vec![InputFile {
            path: input.to_path_buf(),
            relative: stem,
        }]);
    }
    let present: Vec<&str> = defaults
        .iter()
        .copied()
        .filter(|d| input.join(d).is_file())
        .collect();
    let files: Vec<PathBuf> = if !present.is_empty() {
        present.iter().map(|d| input.join(d)).collect()
    } else {
        let mut found = Vec::new();
        walk(input, extensions, &mut found)?;
        found.sort();
        found
    };
    if files.is_empty() {
        return Err(DataError::bad_input(
            input,
            format!(
                "no input files found (looked for {} files); pass a file or a folder holding them",
                extensions.join("/")
            ),
        ));
    }
    Ok(files
        .into_iter()
        .map(|path| {
            let rel = path.strip_prefix(input).unwrap_or(&path).with_extension("");
            let relative = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            InputFile { path, relative }
        })
        .collect())
}

fn walk(dir: &Path, extensions: &[&str], out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    for entry in entries {
        let path = entry.map_err(|e| DataError::io(dir, e))?.path();
        if path.is_dir() {
            walk(&path, extensions, out)?;
            continue;
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        if extensions.contains(&ext.as_str()) && !name.contains("-tiny.") {
            out.push(path);
        }
    }
    Ok(())
}
