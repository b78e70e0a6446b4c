//! Families of comparisons: Holm within each family, then verdicts and minimum detectable effects
//! at the level each entry was actually tested at.

use std::collections::BTreeSet;

use super::compare::{Comparison, Verdict};
use super::holm::holm;
use super::power::minimum_detectable_effect;
use finefail_core::AnswerContext;

/// Holm-adjusts the p of the primary entries family by family — one family per context, so the
/// main (`retrieved`) comparisons are not diluted by the `@none` / `@gold` controls, nor the
/// controls by them — sets their verdicts, and every tested entry's minimum detectable effect at
/// its family's first Holm level α/m (secondary entries: unadjusted, a family of one).
pub fn apply_holm(comparisons: &mut [Comparison], alpha: f64) {
    let contexts: BTreeSet<AnswerContext> = comparisons.iter().map(|c| c.context).collect();
    for context in contexts {
        let idx: Vec<usize> = comparisons
            .iter()
            .enumerate()
            .filter(|(_, c)| c.primary && c.p.is_some() && c.context == context)
            .map(|(i, _)| i)
            .collect();
        let ps: Vec<f64> = idx.iter().filter_map(|&i| comparisons[i].p).collect();
        for (&i, adj) in idx.iter().zip(holm(&ps)) {
            let c = &mut comparisons[i];
            c.p_holm = Some(adj);
            c.verdict = Some(verdict(adj, c.diff, c.ci_low, c.ci_high, alpha));
            c.mde = mde_of(c, alpha, idx.len());
        }
    }
    for c in comparisons
        .iter_mut()
        .filter(|c| c.p_holm.is_none() && c.p.is_some())
    {
        c.mde = mde_of(c, alpha, 1);
    }
}

fn mde_of(c: &Comparison, alpha: f64, family: usize) -> Option<f64> {
    minimum_detectable_effect(c.se?, c.df.unwrap_or(f64::INFINITY), alpha, family)
}

/// `helps`/`hurts` when the adjusted p is below alpha and the CI excludes 0 on the side of the
/// point estimate; `inconclusive` otherwise (a CI and an estimate that disagree included).
pub fn verdict(
    p_holm: f64,
    diff: f64,
    ci_low: Option<f64>,
    ci_high: Option<f64>,
    alpha: f64,
) -> Verdict {
    match (p_holm < alpha, ci_low, ci_high) {
        (true, Some(lo), _) if lo > 0.0 && diff > 0.0 => Verdict::Helps,
        (true, _, Some(hi)) if hi < 0.0 && diff < 0.0 => Verdict::Hurts,
        _ => Verdict::Inconclusive,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_needs_the_test_the_ci_and_the_estimate_to_agree() {
        assert_eq!(
            verdict(0.01, 0.1, Some(0.02), Some(0.2), 0.05),
            Verdict::Helps
        );
        assert_eq!(
            verdict(0.01, -0.1, Some(-0.2), Some(-0.02), 0.05),
            Verdict::Hurts
        );
        assert_eq!(
            verdict(0.06, 0.1, Some(0.02), Some(0.2), 0.05),
            Verdict::Inconclusive
        );
        assert_eq!(
            verdict(0.01, -0.1, Some(0.02), Some(0.2), 0.05),
            Verdict::Inconclusive
        );
        assert_eq!(
            verdict(0.01, 0.1, Some(-0.02), Some(0.2), 0.05),
            Verdict::Inconclusive
        );
    }
}
