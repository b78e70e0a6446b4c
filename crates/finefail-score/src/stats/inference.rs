//! Which CI and test a comparison gets: one training seed → question bootstrap CI and the
//! sign-flip permutation test; several → the seeds × questions pivot for both.

use super::bootstrap::bootstrap_ci;
use super::components::{SeedQuestionSpread, VarianceComponents};
use super::describe::sample_sd;
use super::permutation::{sign_flip_p, FlipMethod};
use super::pivot::{pivot_test, MIN_PIVOT_DRAWS};

/// Differences closer to 0 than this are exact ties: seed means such as (0.4 + 0.4 + 0.4)/3 − 0.4
/// are rounding, not evidence.
pub const TIE_TOLERANCE: f64 = 1e-9;

/// `test` of a one-seed comparison whose sign patterns were all enumerated.
pub const TEST_SIGN_FLIP_EXACT: &str = "sign-flip exact";
/// `test` of a one-seed comparison with more than 20 non-zero differences.
pub const TEST_SIGN_FLIP_MONTE_CARLO: &str = "sign-flip monte-carlo";
/// `test` of a comparison over several training seeds.
pub const TEST_PIVOT: &str = "pivot seeds×questions";

/// `d`, or exactly 0 within [`TIE_TOLERANCE`].
pub fn snap(d: f64) -> f64 {
    if d.abs() < TIE_TOLERANCE {
        0.0
    } else {
        d
    }
}

/// The CI, p and standard error of one comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Inference {
    /// CI of the mean difference at the requested level.
    pub ci: Option<(f64, f64)>,
    /// Two-sided p of "mean difference = 0".
    pub p: f64,
    /// Which test (one of the `TEST_*` names).
    pub test: &'static str,
    /// Standard error of the mean difference.
    pub se: Option<f64>,
    /// Its degrees of freedom.
    pub df: Option<f64>,
    /// The seeds × questions variance components (several seeds only): what the MDE and the next
    /// study's plan are computed from.
    pub components: Option<VarianceComponents>,
}

/// The inference for seed-averaged differences `diffs` and per-seed differences `seed_diffs`
/// (`[seed][question]`), with `resamples` bootstrap resamples / pivot draws (at least
/// [`MIN_PIVOT_DRAWS`] for the pivot) seeded by `seed`. Several seeds with fewer than two paired questions fall back to the
/// one-seed methods on `diffs` (and say so through `test`).
pub fn infer(
    diffs: &[f64],
    seed_diffs: &[Vec<f64>],
    resamples: usize,
    seed: u64,
    level: f64,
) -> Inference {
    if let Some(spread) = SeedQuestionSpread::new(seed_diffs) {
        let r = pivot_test(&spread, resamples.max(MIN_PIVOT_DRAWS), seed, level);
        return Inference {
            ci: Some((r.low, r.high)),
            p: r.p,
            test: TEST_PIVOT,
            se: Some(spread.variance_of_mean().sqrt()),
            df: Some(spread.effective_df()),
            components: Some(spread.components()),
        };
    }
    let (p, how) = sign_flip_p(diffs, seed);
    let n = diffs.len() as f64;
    Inference {
        ci: bootstrap_ci(diffs, resamples, seed, level),
        p,
        test: match how {
            FlipMethod::Exact => TEST_SIGN_FLIP_EXACT,
            FlipMethod::MonteCarlo => TEST_SIGN_FLIP_MONTE_CARLO,
        },
        se: sample_sd(diffs).map(|sd| sd / n.sqrt()),
        df: (diffs.len() >= 2).then_some(n - 1.0),
        components: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_means_that_round_are_ties() {
        let three = (0.4 + 0.4 + 0.4) / 3.0;
        assert_ne!(three - 0.4, 0.0, "the rounding this guards against");
        assert_eq!(snap(three - 0.4), 0.0);
        assert_eq!(snap(-2e-9), -2e-9);
    }

    #[test]
    fn one_seed_uses_the_permutation_test_and_several_the_pivot() {
        let d = [0.5, -0.25, 0.0, 1.0];
        let one = infer(&d, &[d.to_vec()], 10_000, 0, 0.95);
        assert_eq!(one.test, TEST_SIGN_FLIP_EXACT);
        // Non-zero 0.5, −0.25, 1: observed |sum| 1.25; of the 8 sign patterns, ±(0.5 + 0.25 + 1) and
        // ±(0.5 − 0.25 + 1) reach it → 4/8.
        assert_eq!(one.p, 0.5);
        assert_eq!(one.df, Some(3.0));
        let two = infer(&d, &[d.to_vec(), d.to_vec()], 10_000, 0, 0.95);
        assert_eq!(two.test, TEST_PIVOT);
        assert!(two.se.is_some_and(|se| se > 0.0));
    }
}
