//! The two hashes that decide whether a step reruns: a step's input hash (its kind, id, config slice
//! and the output hashes of the steps it reads) and an output's hash (its files' names and bytes,
//! without the sub-folders its kind keeps for itself). The bytes hashed are part of the on-disk
//! contract: changing them reruns every cached step of every run folder.

use super::StepWork;
use crate::error::{Result, RunnerError};
use crate::plan::Step;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A step's input hash from its kind, id, config slice and the output hashes of its dependencies
/// (`None` when a dependency has no current output yet).
pub fn input_hash(
    step: &Step,
    steps: &dyn StepWork,
    outputs: &BTreeMap<String, String>,
) -> Result<Option<String>> {
    let mut h = Sha256::new();
    h.update(step.kind.as_str().as_bytes());
    h.update(b"\0");
    h.update(step.id.as_bytes());
    h.update(b"\0");
    h.update(
        serde_json::to_string(&steps.config_slice(step)?)
            .unwrap_or_default()
            .as_bytes(),
    );
    for dep in &step.deps {
        let Some(out) = outputs.get(dep) else {
            return Ok(None);
        };
        h.update(dep.as_bytes());
        h.update(out.as_bytes());
    }
    Ok(Some(hex::encode(h.finalize())))
}

/// sha256 over a file, or over a directory's files (sorted relative names and bytes). Hidden
/// entries (atomic writes' temporaries) are skipped at any depth, and so are the directory's
/// top-level sub-folders named in `kept` ([`crate::StepKind::kept_dirs`]): a step's resumable
/// state, not what it produced.
pub fn hash_path(path: &Path, kept: &[&str]) -> Result<String> {
    let mut files = Vec::new();
    collect(path, path, kept, &mut files)?;
    files.sort();
    let mut h = Sha256::new();
    for (rel, full) in files {
        let bytes = std::fs::read(&full).map_err(|e| RunnerError::Io {
            path: full.clone(),
            source: e,
        })?;
        h.update(rel.as_bytes());
        h.update(b"\0");
        h.update(Sha256::digest(&bytes));
    }
    Ok(hex::encode(h.finalize()))
}

/// The files under `p` that define the output rooted at `root`, as (relative name, path).
fn collect(root: &Path, p: &Path, kept: &[&str], out: &mut Vec<(String, PathBuf)>) -> Result<()> {
    if p.is_file() {
        let rel = p
            .strip_prefix(root)
            .map(|r| r.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push((rel, p.to_path_buf()));
        return Ok(());
    }
    let entries = std::fs::read_dir(p).map_err(|e| RunnerError::Io {
        path: p.to_path_buf(),
        source: e,
    })?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || (p == root && kept.contains(&name.as_str())) {
            continue;
        }
        collect(root, &entry.path(), kept, out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only the named top-level sub-folders and hidden entries are left out of an output's hash.
    #[test]
    fn kept_sub_folders_and_hidden_files_do_not_change_the_output_hash() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        std::fs::create_dir_all(out.join("adapter")).unwrap();
        std::fs::write(out.join("adapter/w"), "w").unwrap();
        let before = hash_path(&out, &["checkpoints"]).unwrap();
        std::fs::create_dir_all(out.join("checkpoints/step-5")).unwrap();
        std::fs::write(out.join("checkpoints/step-5/w"), "x").unwrap();
        std::fs::write(out.join("adapter/.tmp-w"), "x").unwrap();
        assert_eq!(hash_path(&out, &["checkpoints"]).unwrap(), before);
        // Another kind keeps no `checkpoints`: for it they are output.
        assert_ne!(hash_path(&out, &["parts"]).unwrap(), before);
        // A nested folder of that name is output too.
        std::fs::create_dir_all(out.join("adapter/checkpoints")).unwrap();
        std::fs::write(out.join("adapter/checkpoints/w"), "x").unwrap();
        assert_ne!(hash_path(&out, &["checkpoints"]).unwrap(), before);
    }
}
