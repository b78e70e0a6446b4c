//! Families of comparisons ([`HolmFamily`]): Holm within each family, then verdicts and minimum
//! detectable effects at the level each entry was actually tested at.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::compare::{Comparison, Verdict, TRAINING_VARIANCE_ASSESSED};
use super::holm::holm;
use super::pivot_power::{pivot_mde, Design, POWER_SEED};
use super::power::minimum_detectable_effect;
use super::trend::Trend;
use finefail_core::AnswerContext;

/// Which primary comparisons share a Holm family (`stats.family`).
///
/// A family is the set of tests whose verdicts are read together: the narrower it is, the less
/// adding an unrelated dataset or model to a config changes a verdict (and the smaller its MDE).
/// Whatever the scope, one-seed entries form families apart from the seed-aware ones (their
/// verdicts speak about one adapter), and every control context (`@none`, `@gold`) is its own.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum HolmFamily {
    /// One family per (dataset, model, context): the default.
    #[default]
    DatasetModelContext,
    /// One family per context across every dataset and model (the rule before issue 24).
    Context,
}

impl HolmFamily {
    /// For `skip_serializing_if`: the default is not written, so configs that do not set it
    /// keep their hash.
    pub fn is_default(&self) -> bool {
        *self == HolmFamily::default()
    }
}

/// The family an entry belongs to: (dataset, model) when the scope names them, the context, and
/// whether its test carries the seed variance.
type FamilyKey = (Option<(String, String)>, AnswerContext, bool);

fn family_key(c: &Comparison, scope: HolmFamily) -> FamilyKey {
    let who = match scope {
        HolmFamily::DatasetModelContext => Some((c.dataset.clone(), c.model.clone())),
        HolmFamily::Context => None,
    };
    (who, c.context, seed_aware(c))
}

/// Whether the entry's CI and p carry the training-seed variance (several seeds, the pivot).
pub fn seed_aware(c: &Comparison) -> bool {
    c.training_variance == TRAINING_VARIANCE_ASSESSED
}

/// Holm-adjusts the p of the primary entries family by family ([`HolmFamily`]: by default one
/// family per dataset, model and context; seed-aware and one-seed entries never share a family),
/// records each family's size `m`, sets the verdicts (one-seed entries: `helps (one adapter)` /
/// `hurts (one adapter)`), and every tested entry's minimum detectable effect at its family's
/// first Holm level α/m (secondary entries: unadjusted, a family of one).
pub fn apply_holm(comparisons: &mut [Comparison], alpha: f64, scope: HolmFamily) {
    let mut families: BTreeMap<FamilyKey, Vec<usize>> = BTreeMap::new();
    for (i, c) in comparisons.iter().enumerate() {
        if c.primary && c.p.is_some() {
            families.entry(family_key(c, scope)).or_default().push(i);
        }
    }
    for ((_, _, aware), idx) in families {
        let ps: Vec<f64> = idx.iter().filter_map(|&i| comparisons[i].p).collect();
        for (&i, adj) in idx.iter().zip(holm(&ps)) {
            let c = &mut comparisons[i];
            c.p_holm = Some(adj);
            c.m = Some(idx.len());
            let v = verdict(adj, c.diff, c.ci_low, c.ci_high, alpha);
            c.verdict = Some(if aware { v } else { v.one_adapter() });
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

/// Holm over the primary trends ([`super::trend`]), family by family with the same scope as the
/// comparisons (seed-aware and one-seed apart), but apart from the comparisons: a trend asks
/// whether the metric moves with N, not whether one size differs from another. Sets `p_holm`, `m`
/// and the verdict (`helps`: the metric rises with N).
pub fn apply_trend_holm(trends: &mut [Trend], alpha: f64, scope: HolmFamily) {
    let mut families: BTreeMap<FamilyKey, Vec<usize>> = BTreeMap::new();
    for (i, t) in trends.iter().enumerate() {
        if t.primary {
            let who = match scope {
                HolmFamily::DatasetModelContext => Some((t.dataset.clone(), t.model.clone())),
                HolmFamily::Context => None,
            };
            let aware = t.training_variance == TRAINING_VARIANCE_ASSESSED;
            families.entry((who, t.context, aware)).or_default().push(i);
        }
    }
    for ((_, _, aware), idx) in families {
        let ps: Vec<f64> = idx.iter().map(|&i| trends[i].p).collect();
        for (&i, adj) in idx.iter().zip(holm(&ps)) {
            let t = &mut trends[i];
            t.p_holm = Some(adj);
            t.m = Some(idx.len());
            let v = verdict(adj, t.slope_per_doubling, t.ci_low, t.ci_high, alpha);
            t.verdict = Some(if aware { v } else { v.one_adapter() });
        }
    }
}

/// The entry's MDE: of the pivot itself at its estimated components with several seeds, of a t
/// with its `se` and `df` with one (the sign-flip test is close to it).
fn mde_of(c: &Comparison, alpha: f64, family: usize) -> Option<f64> {
    match c.components {
        Some(components) if seed_aware(c) => {
            let design = Design {
                seeds: c.seeds.len(),
                questions: c.questions,
                alpha,
                family,
            };
            pivot_mde(&components, &design, POWER_SEED)
        }
        _ => minimum_detectable_effect(c.se?, c.df.unwrap_or(f64::INFINITY), alpha, family),
    }
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
