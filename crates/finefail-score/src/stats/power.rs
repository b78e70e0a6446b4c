//! The minimum detectable effect: how small a true difference this design would find 80 % of the
//! time, at the level the verdict actually uses (Holm's first step, α/m for a family of m).

use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

/// Power the minimum detectable effect is stated at.
pub const MDE_POWER: f64 = 0.8;

/// `(t_{1−α/(2m), ν} + t_{power, ν}) · se`: the two-sided level `alpha / family` (Holm's first
/// step), the standard error `se` of the mean difference and its degrees of freedom `df`
/// (infinite = normal quantiles). `None` for a missing or non-finite standard error.
pub fn minimum_detectable_effect(se: f64, df: f64, alpha: f64, family: usize) -> Option<f64> {
    if !se.is_finite() || se < 0.0 || family == 0 {
        return None;
    }
    let level = alpha / family as f64;
    let q = |p: f64| -> Option<f64> {
        if df.is_finite() {
            StudentsT::new(0.0, 1.0, df).ok().map(|t| t.inverse_cdf(p))
        } else {
            Normal::new(0.0, 1.0).ok().map(|n| n.inverse_cdf(p))
        }
    };
    Some((q(1.0 - level / 2.0)? + q(MDE_POWER)?) * se)
}

/// The power of a two-sided z-test at level `alpha / family` to find a true difference `effect`
/// when the mean difference has standard error `se`: the one-seed plan (the sign-flip test is close
/// to it). `None` for a missing or non-positive standard error.
pub fn normal_power(se: f64, alpha: f64, family: usize, effect: f64) -> Option<f64> {
    if !(se.is_finite() && se > 0.0) || family == 0 {
        return None;
    }
    let normal = Normal::new(0.0, 1.0).ok()?;
    let z = normal.inverse_cdf(1.0 - alpha / family as f64 / 2.0);
    Some(normal.cdf(effect / se - z) + normal.cdf(-effect / se - z))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn textbook_quantiles() {
        // z_0.975 + z_0.8 = 1.959964 + 0.841621 = 2.801585 (tables).
        let m = minimum_detectable_effect(1.0, f64::INFINITY, 0.05, 1).unwrap_or(f64::NAN);
        assert!((m - 2.801_585).abs() < 1e-5, "{m}");
        // Holm's first step with 6 tests: z_{1−0.05/12} = 2.638257; + 0.841621 = 3.479878.
        let m = minimum_detectable_effect(1.0, f64::INFINITY, 0.05, 6).unwrap_or(f64::NAN);
        assert!((m - 3.479_878).abs() < 1e-5, "{m}");
        // t with 2 df: t_0.975 = 4.302653, t_0.8 = 1.060660.
        let m = minimum_detectable_effect(0.5, 2.0, 0.05, 1).unwrap_or(f64::NAN);
        assert!((m - 0.5 * 5.363_313).abs() < 1e-5, "{m}");
        assert_eq!(minimum_detectable_effect(f64::NAN, 3.0, 0.05, 1), None);
    }

    #[test]
    fn normal_power_at_the_normal_mde_is_eighty_percent() {
        // At (z_0.975 + z_0.8)·se the far tail adds Φ(−2·1.96 − 0.84) ≈ 1e-6.
        let p = normal_power(1.0, 0.05, 1, 2.801_585).unwrap_or(f64::NAN);
        assert!((p - 0.8).abs() < 1e-5, "{p}");
        // No effect: the level itself.
        let p = normal_power(0.3, 0.05, 2, 0.0).unwrap_or(f64::NAN);
        assert!((p - 0.025).abs() < 1e-9, "{p}");
    }
}
