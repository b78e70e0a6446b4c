//! Learning-rate schedules as transformers' `get_{linear,cosine,constant}_schedule_with_warmup`:
//! for optimizer step `s` (0-based) of `total`, with `w` warmup steps, the factor is `s / w` during
//! warmup, then `(total − s) / (total − w)` (linear), `½(1 + cos(π·(s − w)/(total − w)))` (cosine) or
//! 1 (constant). Warmup steps are `ceil(warmup_ratio × total)`, as transformers computes them.

/// A learning-rate schedule over a known number of optimizer steps.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// Peak learning rate.
    pub lr: f64,
    /// `linear`, `cosine` or `constant`.
    pub kind: String,
    /// Warmup steps.
    pub warmup: usize,
    /// Total optimizer steps.
    pub total: usize,
}

impl Schedule {
    /// A schedule with `ceil(warmup_ratio × total)` warmup steps.
    pub fn new(lr: f64, kind: &str, warmup_ratio: f64, total: usize) -> Self {
        Self {
            lr,
            kind: kind.to_string(),
            warmup: (warmup_ratio * total as f64).ceil() as usize,
            total,
        }
    }

    /// The learning rate of optimizer step `step` (0-based).
    pub fn lr_at(&self, step: usize) -> f64 {
        let (s, w, n) = (step as f64, self.warmup as f64, self.total as f64);
        if step < self.warmup {
            return self.lr * s / w.max(1.0);
        }
        let factor = match self.kind.as_str() {
            "constant" => 1.0,
            "cosine" => {
                let progress = (s - w) / (n - w).max(1.0);
                0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
            }
            _ => ((n - s) / (n - w).max(1.0)).max(0.0),
        };
        self.lr * factor
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-computed: total 10, ratio 0.2 → 2 warmup steps; lr 1.
    #[test]
    fn matches_transformers_formulas() {
        let lin = Schedule::new(1.0, "linear", 0.2, 10);
        assert_eq!(lin.warmup, 2);
        let got: Vec<f64> = (0..10).map(|s| lin.lr_at(s)).collect();
        let want = [0.0, 0.5, 1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-12, "{got:?}");
        }
        let cos = Schedule::new(1.0, "cosine", 0.2, 10);
        // s = 6: progress 0.5 → 0.5
        assert!((cos.lr_at(6) - 0.5).abs() < 1e-12);
        assert!((cos.lr_at(2) - 1.0).abs() < 1e-12);
        let c = Schedule::new(2e-4, "constant", 0.0, 5);
        assert_eq!(c.warmup, 0);
        assert_eq!(c.lr_at(4), 2e-4);
        // 3 % of 6 steps rounds up to one warmup step
        assert_eq!(Schedule::new(1.0, "linear", 0.03, 6).warmup, 1);
    }
}
