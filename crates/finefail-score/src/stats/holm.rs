//! Holm's step-down adjustment of p-values for the family of primary comparisons of a run.

/// Holm-adjusted p-values, in the input order.
///
/// Sort ascending; the i-th smallest (0-based) becomes `(m − i)·p`, made monotone by a running
/// maximum and capped at 1 (statsmodels' `multipletests(method="holm")`).
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut adjusted = vec![0.0; m];
    let mut running: f64 = 0.0;
    for (i, &idx) in order.iter().enumerate() {
        let v = ((m - i) as f64 * p[idx]).min(1.0);
        running = running.max(v);
        adjusted[idx] = running;
    }
    adjusted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn textbook_example() {
        // sorted 0.005, 0.01, 0.03, 0.04 -> ×4, ×3, ×2, ×1 = 0.02, 0.03, 0.06, 0.04 -> monotone 0.06.
        let adj = holm(&[0.01, 0.04, 0.03, 0.005]);
        let want = [0.03, 0.06, 0.06, 0.02];
        for (a, w) in adj.iter().zip(want) {
            assert!((a - w).abs() < 1e-15, "{adj:?}");
        }
        assert_eq!(holm(&[0.5, 0.6]), vec![1.0, 1.0]);
        assert!(holm(&[]).is_empty());
    }
}
