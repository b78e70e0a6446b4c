//! Where finefail keeps what it may reuse across runs (judgments, corpus embeddings): one rule for
//! every cache, so `$FINEFAIL_CACHE` moves all of them at once (a cluster's scratch disk, CI).

use std::ffi::OsString;
use std::path::PathBuf;

/// The cache root: `$FINEFAIL_CACHE`, else `$HOME/.cache/finefail`, else `.finefail-cache` in the
/// working directory. Callers add their own subfolder (`judgments`, `embeddings`).
pub fn cache_root() -> PathBuf {
    cache_root_from(std::env::var_os("FINEFAIL_CACHE"), std::env::var_os("HOME"))
}

/// [`cache_root`] from given values of `FINEFAIL_CACHE` and `HOME` (empty values count as unset).
pub fn cache_root_from(finefail_cache: Option<OsString>, home: Option<OsString>) -> PathBuf {
    let set = |v: Option<OsString>| v.filter(|s| !s.is_empty());
    set(finefail_cache)
        .map(PathBuf::from)
        .or_else(|| set(home).map(|h| PathBuf::from(h).join(".cache/finefail")))
        .unwrap_or_else(|| PathBuf::from(".finefail-cache"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_variable_wins_then_home() {
        let v = |s: &str| Some(OsString::from(s));
        assert_eq!(
            cache_root_from(v("/scratch/ff"), v("/root")),
            PathBuf::from("/scratch/ff")
        );
        assert_eq!(
            cache_root_from(None, v("/root")),
            PathBuf::from("/root/.cache/finefail")
        );
        assert_eq!(
            cache_root_from(v(""), v("/h")),
            PathBuf::from("/h/.cache/finefail")
        );
        assert_eq!(
            cache_root_from(None, None),
            PathBuf::from(".finefail-cache")
        );
    }
}
