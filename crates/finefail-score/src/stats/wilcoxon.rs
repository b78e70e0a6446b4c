//! Wilcoxon signed-rank test, two-sided, normal approximation, exactly as
//! `scipy.stats.wilcoxon(d, zero_method="wilcox", correction=False, method="approx")`.

/// Two-sided p of the Wilcoxon signed-rank test on paired differences.
///
/// Zero differences are dropped ("wilcox"); the |d| are ranked with average ranks for ties;
/// `z = (R+ − n(n+1)/4) / σ` with `σ² = (n(n+1)(2n+1) − Σ(t³ − t)/2) / 24` (scipy's tie correction,
/// `t` the size of each tie group) and no continuity correction; `p = 2·Φ(−|z|)`.
/// `None` when no difference is non-zero (scipy returns NaN then).
pub fn wilcoxon_p(diffs: &[f64]) -> Option<f64> {
    let mut nz: Vec<f64> = diffs.iter().copied().filter(|d| *d != 0.0).collect();
    if nz.is_empty() {
        return None;
    }
    nz.sort_by(|a, b| a.abs().total_cmp(&b.abs()));
    let n = nz.len() as f64;
    let mut r_plus = 0.0;
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < nz.len() {
        let mut j = i + 1;
        while j < nz.len() && nz[j].abs() == nz[i].abs() {
            j += 1;
        }
        // Ranks i+1 ..= j share their average.
        let avg = (i + 1 + j) as f64 / 2.0;
        r_plus += avg * nz[i..j].iter().filter(|d| **d > 0.0).count() as f64;
        let t = (j - i) as f64;
        tie_term += t * t * t - t;
        i = j;
    }
    let mean = n * (n + 1.0) / 4.0;
    let var = (n * (n + 1.0) * (2.0 * n + 1.0) - tie_term / 2.0) / 24.0;
    if var <= 0.0 {
        return Some(1.0);
    }
    let z = (r_plus - mean) / var.sqrt();
    Some((2.0 * normal_sf(z.abs())).min(1.0))
}

/// Upper tail of the standard normal, `0.5·erfc(z/√2)`, full double precision (musl's erfc).
pub(crate) fn normal_sf(z: f64) -> f64 {
    0.5 * libm::erfc(z / std::f64::consts::SQRT_2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_tail_known_values() {
        // Φ(−1.959963984540054) = 0.025; Φ(−1) = 0.15865525393145707 (tables / scipy.stats.norm.sf).
        assert!((normal_sf(1.959963984540054) - 0.025).abs() < 1e-15);
        assert!((normal_sf(1.0) - 0.158_655_253_931_457_07).abs() < 1e-16);
        assert_eq!(normal_sf(0.0), 0.5);
    }

    #[test]
    fn by_hand_small_sample() {
        // d = [1, 2, 3, -4]: ranks 1, 2, 3, 4; R+ = 6; mean 5; var = 4·5·9/24 = 7.5;
        // z = 1/√7.5; p = 2·Φ(−0.3651…) = 0.7150006546880893 (scipy.stats.wilcoxon).
        let p = wilcoxon_p(&[1.0, 2.0, 3.0, -4.0]).unwrap_or(f64::NAN);
        assert!((p - 2.0 * normal_sf(1.0 / 7.5f64.sqrt())).abs() < 1e-15);
        assert!((p - 0.7150006546880893).abs() < 1e-12);
        assert_eq!(wilcoxon_p(&[0.0, 0.0]), None);
    }
}
