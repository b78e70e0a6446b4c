//! Paired percentile bootstrap confidence interval of a mean difference over questions.

use super::rng::Xoshiro256;

/// The percentile bootstrap CI of the mean of `diffs` (per-question fine-tuned − base differences).
///
/// Draws `resamples` resamples of the questions with replacement from [`Xoshiro256`] seeded with
/// `seed`, takes each resample's mean, and returns the `(1 − level)/2` and `(1 + level)/2` quantiles
/// of those means with numpy's default (linear) interpolation. Resampling differences is resampling
/// questions with their pairing kept. `None` for no data or no resamples.
pub fn bootstrap_ci(diffs: &[f64], resamples: usize, seed: u64, level: f64) -> Option<(f64, f64)> {
    let n = diffs.len();
    if n == 0 || resamples == 0 {
        return None;
    }
    let mut rng = Xoshiro256::seed_from(seed);
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| {
            let s: f64 = (0..n).map(|_| diffs[rng.below(n)]).sum();
            s / n as f64
        })
        .collect();
    means.sort_by(f64::total_cmp);
    let alpha = (1.0 - level) / 2.0;
    Some((quantile(&means, alpha), quantile(&means, 1.0 - alpha)))
}

/// numpy's `percentile(..., method="linear")` on sorted data.
pub(crate) fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    sorted[lo] + (sorted[hi] - sorted[lo]) * frac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_matches_numpy_linear() {
        // np.percentile([1, 2, 3, 4], [2.5, 50, 97.5]) = [1.075, 2.5, 3.925]
        let s = [1.0, 2.0, 3.0, 4.0];
        assert!((quantile(&s, 0.025) - 1.075).abs() < 1e-12);
        assert!((quantile(&s, 0.5) - 2.5).abs() < 1e-12);
        assert!((quantile(&s, 0.975) - 3.925).abs() < 1e-12);
    }

    #[test]
    fn constant_differences_give_a_point_interval() {
        assert_eq!(bootstrap_ci(&[0.25; 30], 1000, 0, 0.95), Some((0.25, 0.25)));
        assert_eq!(bootstrap_ci(&[], 1000, 0, 0.95), None);
    }

    #[test]
    fn seeded_and_reproducible() {
        let d: Vec<f64> = (0..40).map(|i| ((i * 7) % 11) as f64 - 5.0).collect();
        let a = bootstrap_ci(&d, 2000, 3, 0.95);
        assert_eq!(a, bootstrap_ci(&d, 2000, 3, 0.95));
        assert_ne!(a, bootstrap_ci(&d, 2000, 4, 0.95));
    }
}
