//! McNemar's exact test for paired binary outcomes (exact binomial, two-sided).

/// Two-sided exact McNemar p from the discordant counts.
///
/// `b` = questions the base got right and the fine-tuned arm wrong, `c` = the reverse. Under the
/// null each discordant pair is a fair coin, so `p = min(1, 2·P[X ≤ min(b, c)])`, `X ~ Bin(b + c, ½)`
/// (statsmodels' `mcnemar(exact=True)`; equal to `scipy.stats.binomtest(b, b + c).pvalue` because the
/// null is symmetric). No discordant pair gives p = 1.
pub fn mcnemar_exact_p(b: u64, c: u64) -> f64 {
    let n = b + c;
    if n == 0 {
        return 1.0;
    }
    let k = b.min(c);
    let nf = n as f64;
    let ln_half_n = nf * std::f64::consts::LN_2;
    let ln_fact_n = libm::lgamma(nf + 1.0);
    // Sum the lower tail in log space (terms can underflow individually for large n).
    let logs: Vec<f64> = (0..=k)
        .map(|i| {
            let i = i as f64;
            ln_fact_n - libm::lgamma(i + 1.0) - libm::lgamma(nf - i + 1.0) - ln_half_n
        })
        .collect();
    let max = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let tail = max.exp() * logs.iter().map(|l| (l - max).exp()).sum::<f64>();
    (2.0 * tail).min(1.0)
}

/// Discordant counts `(b, c)` of paired 0/1 outcomes: `b` base 1 and fine-tuned 0, `c` the reverse.
pub fn discordant(base: &[f64], ft: &[f64]) -> (u64, u64) {
    base.iter()
        .zip(ft)
        .fold((0, 0), |(b, c), (x, y)| match (*x >= 0.5, *y >= 0.5) {
            (true, false) => (b + 1, c),
            (false, true) => (b, c + 1),
            _ => (b, c),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn textbook_values() {
        // b = 0, c = 5: 2 · (1/2)^5 = 0.0625.
        assert!((mcnemar_exact_p(0, 5) - 0.0625).abs() < 1e-15);
        // b = 1, c = 9: 2 · (1 + 10) / 1024 = 22/1024 = 0.021484375.
        assert!((mcnemar_exact_p(1, 9) - 0.021_484_375).abs() < 1e-14);
        assert!((mcnemar_exact_p(9, 1) - 0.021_484_375).abs() < 1e-14);
        // Balanced discordance is capped at 1.
        assert_eq!(mcnemar_exact_p(3, 3), 1.0);
        assert_eq!(mcnemar_exact_p(0, 0), 1.0);
    }

    #[test]
    fn counts_discordant_pairs() {
        let base = [1.0, 1.0, 0.0, 0.0, 1.0];
        let ft = [1.0, 0.0, 1.0, 1.0, 0.0];
        assert_eq!(discordant(&base, &ft), (2, 2));
    }
}
