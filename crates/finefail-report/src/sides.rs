//! The two sides of a comparison as tables, plots and the CLI's verdict table print them: the
//! treated side (`50`, `raft 50`, `icl4`) and what it is set against (`0`, `20`, `icl4`,
//! `qa 50`). For `vs_base` and `vs_previous` entries of a one-format study they are the bare
//! sizes the tables always printed; the in-context arm and training formats add their names.

use finefail_score::{Comparison, ComparisonKind};

/// A size, prefixed by its training format when the study names formats: `50`, `raft 50`.
fn size(format: Option<&str>, n: u64) -> String {
    match format {
        Some(f) => format!("{f} {n}"),
        None => n.to_string(),
    }
}

/// The treated side of `c`: its size (with its format when named), or `icl{K}` for the in-context
/// arm against the base model.
pub fn treated(c: &Comparison) -> String {
    match (c.kind, c.icl_shots) {
        (ComparisonKind::VsIcl, Some(k)) if c.n == 0 => format!("icl{k}"),
        _ => size(c.format.as_deref(), c.n),
    }
}

/// The side `c` is set against: `0` (the base model), the previous size, `icl{K}`, or the same
/// size in the reference format.
pub fn reference(c: &Comparison) -> String {
    match c.kind {
        ComparisonKind::VsBase => "0".to_owned(),
        ComparisonKind::VsPrevious => c.reference_n.to_string(),
        ComparisonKind::VsIcl if c.n == 0 => "0".to_owned(),
        ComparisonKind::VsIcl => format!("icl{}", c.icl_shots.unwrap_or(0)),
        ComparisonKind::VsFormat => size(c.reference_format.as_deref(), c.reference_n),
    }
}

/// True when `c` sets its treated side against the base model (N = 0): `vs_base`, and the
/// in-context arm's `vs_icl` entry.
pub fn against_base(c: &Comparison) -> bool {
    match c.kind {
        ComparisonKind::VsBase => true,
        ComparisonKind::VsIcl => c.n == 0,
        _ => false,
    }
}

/// True for the comparisons with an alternative to one fine-tune (`vs_icl`, `vs_format`).
pub fn is_alternative(c: &Comparison) -> bool {
    matches!(c.kind, ComparisonKind::VsIcl | ComparisonKind::VsFormat)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: ComparisonKind, n: u64, reference_n: u64) -> Comparison {
        serde_json::from_value(serde_json::json!({
            "dataset": "d", "model": "m", "n": n, "kind": kind, "reference_n": reference_n,
            "context": "retrieved", "metric": "token_f1", "primary": true, "base_mean": 0.0,
            "ft_mean": 0.0, "diff": 0.0, "ci_low": null, "ci_high": null, "p": null,
            "p_holm": null, "mde": null, "verdict": null, "seeds": [0], "questions": 1,
            "seed_means": [0.0], "seed_sd": null, "judge_sd": null
        }))
        .unwrap()
    }

    #[test]
    fn sides_name_sizes_formats_and_the_in_context_arm() {
        let c = entry(ComparisonKind::VsBase, 50, 0);
        assert_eq!((treated(&c), reference(&c)), ("50".into(), "0".into()));
        let c = entry(ComparisonKind::VsPrevious, 100, 50);
        assert_eq!((treated(&c), reference(&c)), ("100".into(), "50".into()));
        let mut c = entry(ComparisonKind::VsIcl, 0, 0);
        c.icl_shots = Some(4);
        assert_eq!((treated(&c), reference(&c)), ("icl4".into(), "0".into()));
        assert!(against_base(&c) && is_alternative(&c));
        c.n = 50;
        c.format = Some("raft".into());
        assert_eq!(
            (treated(&c), reference(&c)),
            ("raft 50".into(), "icl4".into())
        );
        assert!(!against_base(&c));
        let mut c = entry(ComparisonKind::VsFormat, 50, 50);
        c.format = Some("raft".into());
        c.reference_format = Some("qa".into());
        assert_eq!(
            (treated(&c), reference(&c)),
            ("raft 50".into(), "qa 50".into())
        );
    }
}
