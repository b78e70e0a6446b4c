//! The power of the seeds × questions pivot ([`super::pivot`]) and its minimum detectable effect:
//! what a design of S seeds × n questions, tested at α/m, finds 80 % of the time — computed for
//! the test the verdict uses, not for a t-test with a point standard error (whose "MDE" the pivot
//! reached with power 0.22–0.36 at S = 2).
//!
//! In the Gaussian seeds × questions model the grand mean `d̄ ~ N(δ, Var(d̄))` is independent of the
//! three mean squares, and the pivot's p falls as `|d̄|` grows. So each draw `j` of the mean squares
//! (`E[MS]·χ²_df/df`) has a critical value `c_j` — the `|d̄|` at which the pivot's p equals α/m —
//! and the power at a true difference δ is the mean over draws of
//! `Φ((δ − c_j)/sd) + Φ((−δ − c_j)/sd)`. The pivot's p at `|d̄| = c` is
//! `2·mean_k Φ(−c/√V_k)` over its own draws `V_k` of the variance (the pivot's definition with the
//! normal integrated out), so `c_j` solves a smooth equation (Newton's method; the left side is
//! convex and decreasing in c, so Newton converges from any start). The inner draws are shared by
//! every `j` (common random numbers) and everything is seeded: the same design gives the same MDE.
//! `tests/stats_power.rs` checks by simulating whole studies through the pivot that the power at
//! the reported MDE is 0.8.

use statrs::distribution::{ChiSquared, Continuous, ContinuousCDF, Normal};
use statrs::function::erf::erfc;

use super::components::{SeedQuestionSpread, VarianceComponents};
use super::power::MDE_POWER;
use super::rng::Xoshiro256;

/// Draws of the mean squares (outer) and of the pivot's variance (inner) per power computation:
/// the MDE moves by well under 1 % between seeds at these counts.
pub const POWER_DRAWS: (usize, usize) = (1_000, 500);

/// The seed every MDE in `comparison.json` is computed with (any fixed value: only determinism
/// matters).
pub const POWER_SEED: u64 = 0x5eed_90e7;

/// A design the power is asked of: training seeds × test questions, tested at `alpha / family`
/// (Holm's first step in a family of `family` tests).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Design {
    /// Training seeds S.
    pub seeds: usize,
    /// Paired test questions n.
    pub questions: usize,
    /// The verdict's α.
    pub alpha: f64,
    /// The Holm family size m.
    pub family: usize,
}

/// `f` of the χ²_df quantiles at the midpoints of `count` equal strata, `(k + ½)/count`.
fn strata(df: f64, count: usize, f: impl Fn(f64) -> f64) -> Option<Vec<f64>> {
    let chi = ChiSquared::new(df).ok()?;
    Some(
        (0..count)
            .map(|k| {
                f(chi_square_quantile(
                    &chi,
                    df,
                    (k as f64 + 0.5) / count as f64,
                ))
            })
            .collect(),
    )
}

/// The χ²_df quantile at `u`: exact for 1 and 2 degrees of freedom, else Wilson–Hilferty's
/// approximation polished by Newton steps on the CDF (statrs' own inverse bisects, ~50× slower).
fn chi_square_quantile(chi: &ChiSquared, df: f64, u: f64) -> f64 {
    let z = || Normal::standard().inverse_cdf(u);
    if df == 1.0 {
        let z = Normal::standard().inverse_cdf(0.5 + u / 2.0);
        return z * z;
    }
    if df == 2.0 {
        return -2.0 * (-u).ln_1p();
    }
    let h = 2.0 / (9.0 * df);
    let mut x = (df * (1.0 - h + z() * h.sqrt()).powi(3)).max(1e-12);
    for _ in 0..8 {
        let step = (chi.cdf(x) - u) / chi.pdf(x);
        if !step.is_finite() {
            break;
        }
        let next = if x - step > 0.0 { x - step } else { x / 2.0 };
        if (next - x).abs() <= 1e-12 * x {
            return next;
        }
        x = next;
    }
    x
}

/// Fisher–Yates shuffle.
fn shuffle(v: &mut [usize], rng: &mut Xoshiro256) {
    for i in (1..v.len()).rev() {
        v.swap(i, rng.below(i + 1));
    }
}

/// Standard normal CDF.
fn phi(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// Standard normal density.
fn density(x: f64) -> f64 {
    (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// The pivot's critical values of `|d̄|`, one per draw of the mean squares, and the true sd of d̄.
#[derive(Debug, Clone)]
pub struct CriticalValues {
    /// `c_j`: the pivot calls an effect in study j iff `|d̄| > c_j`.
    critical: Vec<f64>,
    /// The true sd of the grand mean.
    sd: f64,
}

impl CriticalValues {
    /// Draws `outer` studies' mean squares for `components` under `design` and solves each one's
    /// critical value over `inner` pivot draws. `None` for fewer than 2 seeds or questions, a
    /// family of 0, α outside (0, 1), or a design whose grand mean has no variance.
    pub fn draw(
        components: &VarianceComponents,
        design: &Design,
        (outer, inner): (usize, usize),
        seed: u64,
    ) -> Option<Self> {
        let (s, n) = (design.seeds, design.questions);
        let valid_alpha = design.alpha > 0.0 && design.alpha < 1.0;
        if s < 2 || n < 2 || design.family == 0 || !valid_alpha {
            return None;
        }
        let var = components.variance_of_mean(s, n);
        if !(var.is_finite() && var > 0.0) {
            return None;
        }
        let (ea, eq, ee) = components.expected_mean_squares(s, n);
        let layout = SeedQuestionSpread {
            seeds: s,
            questions: n,
            mean: 0.0,
            ms_seed: 0.0,
            ms_question: 0.0,
            ms_residual: 0.0,
        };
        let (da, dq, de) = layout.dfs();
        let mut rng = Xoshiro256::seed_from(seed);
        // Both the studies' mean squares (outer) and the pivot's draws (inner, as factors
        // `df/χ²_df` of a study's mean squares) sit at the χ² quantiles of equal strata, paired
        // across the three mean squares at random (a Latin hypercube): the heavy tails of a χ² with
        // 1 or 2 degrees of freedom are always there, and the power's Monte Carlo error — which
        // the seed mean square dominates — mostly cancels.
        let (outer, inner) = (outer.max(1), inner.max(1));
        let (ia, iq, ie) = (
            strata(da, inner, |x| da / x)?,
            strata(dq, inner, |x| dq / x)?,
            strata(de, inner, |x| de / x)?,
        );
        let (oa, oq, oe) = (
            strata(da, outer, |x| ea * x / da)?,
            strata(dq, outer, |x| eq * x / dq)?,
            strata(de, outer, |x| ee * x / de)?,
        );
        let tail = design.alpha / design.family as f64 / 2.0;
        let mut sds = vec![0.0; inner];
        let mut pairs: [Vec<usize>; 4] =
            std::array::from_fn(|k| (0..if k < 2 { outer } else { inner }).collect());
        for p in &mut pairs[..2] {
            shuffle(p, &mut rng);
        }
        let critical = (0..outer)
            .map(|j| {
                let (ma, mq, me) = (oa[j], oq[pairs[0][j]], oe[pairs[1][j]]);
                let [_, _, pq, pe] = &mut pairs;
                shuffle(pq, &mut rng);
                shuffle(pe, &mut rng);
                for (k, sd) in sds.iter_mut().enumerate() {
                    let v = layout.variance_from(ma * ia[k], mq * iq[pq[k]], me * ie[pe[k]]);
                    *sd = v.sqrt();
                }
                critical_value(&sds, tail)
            })
            .collect();
        Some(CriticalValues {
            critical,
            sd: var.sqrt(),
        })
    }

    /// The share of studies the pivot calls an effect in when the true difference is `effect`.
    pub fn power(&self, effect: f64) -> f64 {
        let sum: f64 = self
            .critical
            .iter()
            .map(|c| phi((effect - c) / self.sd) + phi((-effect - c) / self.sd))
            .sum();
        sum / self.critical.len() as f64
    }

    /// The smallest |effect| found with probability `power` (bisection; the power rises with
    /// |effect|).
    pub fn detectable_at(&self, power: f64) -> f64 {
        let mut high = self.sd;
        while self.power(high) < power && high < 1e12 * self.sd {
            high *= 2.0;
        }
        let mut low = 0.0;
        for _ in 0..80 {
            let mid = 0.5 * (low + high);
            if self.power(mid) < power {
                low = mid;
            } else {
                high = mid;
            }
        }
        0.5 * (low + high)
    }
}

/// The c ≥ 0 with `mean_k Φ(−c/sd_k) = tail` (Newton from a normal-quantile guess; the left side is
/// convex and decreasing, so the iteration lands left of the root once and then climbs to it).
fn critical_value(sds: &[f64], tail: f64) -> f64 {
    let positive: Vec<f64> = sds.iter().copied().filter(|s| *s > 0.0).collect();
    if positive.is_empty() {
        return 0.0;
    }
    let k = sds.len() as f64;
    // Draws with no variance put their mass at d̄: Φ(−c/0) = 0 for c > 0.
    let f = |c: f64| positive.iter().map(|s| phi(-c / s)).sum::<f64>() / k - tail;
    let slope = |c: f64| -positive.iter().map(|s| density(c / s) / s).sum::<f64>() / k;
    let mean_sd = positive.iter().sum::<f64>() / positive.len() as f64;
    let mut c = 2.0 * mean_sd;
    for _ in 0..200 {
        let d = slope(c);
        if d == 0.0 {
            break;
        }
        let next = (c - f(c) / d).max(0.0);
        if (next - c).abs() <= 1e-12 * mean_sd {
            return next;
        }
        c = next;
    }
    c
}

/// The minimum detectable effect of the pivot for `design` when the differences have these
/// `components`: the |δ| it calls at the family's first Holm level with 80 % power. `None` where
/// [`CriticalValues::draw`] is.
pub fn pivot_mde(components: &VarianceComponents, design: &Design, seed: u64) -> Option<f64> {
    CriticalValues::draw(components, design, POWER_DRAWS, seed).map(|c| c.detectable_at(MDE_POWER))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn components(seed_sd: f64) -> VarianceComponents {
        VarianceComponents {
            seed_sd,
            question_sd: 0.2,
            residual_sd: 0.22,
        }
    }

    fn design(seeds: usize, questions: usize, family: usize) -> Design {
        Design {
            seeds,
            questions,
            alpha: 0.05,
            family,
        }
    }

    #[test]
    fn critical_value_of_one_known_variance_is_the_normal_quantile() {
        // One draw with sd 1: Φ(−c) = 0.025 → c = 1.959964.
        let c = critical_value(&[1.0], 0.025);
        assert!((c - 1.959_964).abs() < 1e-5, "{c}");
        // Two equal draws give the same c; a zero draw counts as mass at 0.
        assert!((critical_value(&[2.0, 2.0], 0.025) - 3.919_928).abs() < 1e-5);
        assert_eq!(critical_value(&[0.0, 0.0], 0.025), 0.0);
    }

    #[test]
    fn with_many_questions_and_seeds_it_nears_the_normal_mde() {
        // 2000 seeds × 2000 questions: the mean squares are nearly exact, so the pivot is a
        // z-test and the MDE is (z_0.975 + z_0.8)·sd = 2.801585·sd.
        let comp = components(0.04);
        let d = design(2000, 2000, 1);
        let sd = comp.variance_of_mean(2000, 2000).sqrt();
        let mde = pivot_mde(&comp, &d, 1).unwrap_or(f64::NAN);
        assert!((mde / sd - 2.801_585).abs() < 0.01, "{}", mde / sd);
        // 50 seeds: the seed mean square's 49 degrees of freedom still widen it, as a t would.
        let d = design(50, 2000, 1);
        let sd = comp.variance_of_mean(50, 2000).sqrt();
        let mde = pivot_mde(&comp, &d, 1).unwrap_or(f64::NAN);
        assert!(mde / sd > 2.801_585 && mde / sd < 2.9, "{}", mde / sd);
    }

    #[test]
    fn fewer_seeds_wider_family_bigger_mde() {
        let comp = components(0.06);
        let m = |s, f| pivot_mde(&comp, &design(s, 100, f), 3).unwrap_or(f64::NAN);
        assert!(
            m(2, 1) > m(3, 1) && m(3, 1) > m(5, 1),
            "{} {} {}",
            m(2, 1),
            m(3, 1),
            m(5, 1)
        );
        assert!(m(3, 6) > m(3, 1));
        assert_eq!(pivot_mde(&comp, &design(1, 100, 1), 3), None);
        assert_eq!(pivot_mde(&comp, &design(3, 100, 0), 3), None);
    }

    #[test]
    fn chi_square_quantiles_match_statrs() {
        for df in [1.0, 2.0, 3.0, 4.0, 9.0, 99.0, 4950.0] {
            let chi = ChiSquared::new(df).unwrap_or_else(|e| panic!("{e}"));
            for u in [0.0005, 0.01, 0.3, 0.5, 0.9, 0.9995] {
                let x = chi_square_quantile(&chi, df, u);
                assert!(
                    (chi.cdf(x) - u).abs() < 1e-9,
                    "df {df}, u {u}: cdf {}",
                    chi.cdf(x)
                );
            }
        }
    }

    #[test]
    fn seeded() {
        let comp = components(0.05);
        let d = design(3, 80, 2);
        assert_eq!(pivot_mde(&comp, &d, 4), pivot_mde(&comp, &d, 4));
    }
}
