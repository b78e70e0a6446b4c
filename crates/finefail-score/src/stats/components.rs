//! Where the uncertainty of a fine-tuned − base difference comes from when several training seeds
//! were run: the seeds (each adapter shifts every answer a little) and the questions.
//!
//! The per-(seed, question) differences `d[s][i]` are read as a two-way crossed layout without
//! replication, `d = μ + a_s + q_i + e_si`. Its mean squares estimate the variance of the grand mean
//! `Var(d̄) = σ²_a/S + σ²_q/n + σ²_e/(nS) = (E MS_seed + E MS_question − E MS_residual)/(nS)`.
//! A negative component estimate is set to zero (a mean square below the residual one is replaced
//! by the residual one), so the estimate never drops below what the residual alone implies.

use serde::{Deserialize, Serialize};

/// The variance components of a per-question difference, as standard deviations: an adapter's
/// shift of every answer (`seed_sd`, training variance), the questions' own spread
/// (`question_sd`) and what is left (`residual_sd`). A design's power depends on them alone, so
/// they are what a finished study (`comparison.json`, `components`) hands to the plan of the next
/// (`finefail run --plan --pilot`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VarianceComponents {
    /// σ_a: sd of one adapter's shift of every difference.
    pub seed_sd: f64,
    /// σ_q: sd of a question's shift shared by every adapter.
    pub question_sd: f64,
    /// σ_e: sd of what is left per (adapter, question).
    pub residual_sd: f64,
}

impl VarianceComponents {
    /// The expected (seed, question, residual) mean squares of an S × n layout:
    /// `σ²_e + nσ²_a`, `σ²_e + Sσ²_q`, `σ²_e`.
    pub fn expected_mean_squares(&self, seeds: usize, questions: usize) -> (f64, f64, f64) {
        let e = self.residual_sd.powi(2);
        (
            e + questions as f64 * self.seed_sd.powi(2),
            e + seeds as f64 * self.question_sd.powi(2),
            e,
        )
    }

    /// The true variance of the grand mean of an S × n layout: `σ²_a/S + σ²_q/n + σ²_e/(nS)`.
    pub fn variance_of_mean(&self, seeds: usize, questions: usize) -> f64 {
        let (s, n) = (seeds as f64, questions as f64);
        self.seed_sd.powi(2) / s + self.question_sd.powi(2) / n + self.residual_sd.powi(2) / (n * s)
    }
}

/// The mean squares of the seeds × questions layout of differences.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeedQuestionSpread {
    /// Training seeds S (≥ 2).
    pub seeds: usize,
    /// Paired questions n (≥ 2).
    pub questions: usize,
    /// The grand mean d̄ (the estimate).
    pub mean: f64,
    /// `n·Σ_s (d̄_s − d̄)² / (S − 1)`: how far the seeds' mean differences scatter.
    pub ms_seed: f64,
    /// `S·Σ_i (d̄_i − d̄)² / (n − 1)`: how far the questions' mean differences scatter.
    pub ms_question: f64,
    /// The interaction/residual mean square, `(S − 1)(n − 1)` degrees of freedom.
    pub ms_residual: f64,
}

impl SeedQuestionSpread {
    /// The mean squares of `d[s][i]` (every row the same length); `None` below two seeds or two
    /// questions.
    pub fn new(d: &[Vec<f64>]) -> Option<Self> {
        let s = d.len();
        let n = d.first().map_or(0, Vec::len);
        if s < 2 || n < 2 || d.iter().any(|row| row.len() != n) {
            return None;
        }
        let (sf, nf) = (s as f64, n as f64);
        let mean = d.iter().flatten().sum::<f64>() / (sf * nf);
        let seed_means: Vec<f64> = d.iter().map(|row| row.iter().sum::<f64>() / nf).collect();
        let question_means: Vec<f64> = (0..n)
            .map(|i| d.iter().map(|row| row[i]).sum::<f64>() / sf)
            .collect();
        let sq = |x: f64| x * x;
        let ms_seed = nf * seed_means.iter().map(|m| sq(m - mean)).sum::<f64>() / (sf - 1.0);
        let ms_question =
            sf * question_means.iter().map(|m| sq(m - mean)).sum::<f64>() / (nf - 1.0);
        let residual: f64 = d
            .iter()
            .zip(&seed_means)
            .flat_map(|(row, sm)| {
                row.iter()
                    .zip(&question_means)
                    .map(move |(x, qm)| sq(x - sm - qm + mean))
            })
            .sum();
        Some(SeedQuestionSpread {
            seeds: s,
            questions: n,
            mean,
            ms_seed,
            ms_question,
            ms_residual: residual / ((sf - 1.0) * (nf - 1.0)),
        })
    }

    /// The variance components by the method of moments (ANOVA estimates, a negative one set to
    /// zero): `σ²_e = MS_e`, `σ²_a = (MS_seed − MS_e)/n`, `σ²_q = (MS_question − MS_e)/S`.
    pub fn components(&self) -> VarianceComponents {
        let e = self.ms_residual;
        VarianceComponents {
            seed_sd: ((self.ms_seed - e).max(0.0) / self.questions as f64).sqrt(),
            question_sd: ((self.ms_question - e).max(0.0) / self.seeds as f64).sqrt(),
            residual_sd: e.max(0.0).sqrt(),
        }
    }

    /// Degrees of freedom of (seed, question, residual) mean squares.
    pub fn dfs(&self) -> (f64, f64, f64) {
        let (s, n) = ((self.seeds - 1) as f64, (self.questions - 1) as f64);
        (s, n, s * n)
    }

    /// The estimated variance of the grand mean from given mean squares (components truncated at
    /// zero): `(max(A, E) + max(B, E) − E)/(nS)`.
    pub fn variance_from(&self, seed: f64, question: f64, residual: f64) -> f64 {
        let cells = (self.seeds * self.questions) as f64;
        (seed.max(residual) + question.max(residual) - residual) / cells
    }

    /// The estimated variance of the grand mean (training seeds and questions both sources).
    pub fn variance_of_mean(&self) -> f64 {
        self.variance_from(self.ms_seed, self.ms_question, self.ms_residual)
    }

    /// Satterthwaite's effective degrees of freedom of [`Self::variance_of_mean`]: near `S − 1` when
    /// the seeds dominate, near `n − 1` when the questions do. Used for the minimum detectable
    /// effect only; the test and the CI come from [`super::pivot`], which does not lean on it.
    pub fn effective_df(&self) -> f64 {
        let (da, db, de) = self.dfs();
        let e = self.ms_residual;
        let a = self.ms_seed.max(e);
        let b = self.ms_question.max(e);
        let total = a + b - e;
        let denom = a * a / da + b * b / db + e * e / de;
        if denom > 0.0 {
            total * total / denom
        } else {
            f64::INFINITY
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_squares_by_hand() {
        // d = [[1, 2, 3], [3, 4, 8]]: grand 3.5; seed means 2, 5; question means 2, 3, 5.5.
        // MS_seed = 3·(2.25 + 2.25)/1 = 13.5; MS_q = 2·(2.25 + 0.25 + 4)/2 = 6.5;
        // residuals: row 0: 1−2−2+3.5 = 0.5, 2−2−3+3.5 = 0.5, 3−2−5.5+3.5 = −1; row 1 the negatives
        // → SS 3 over (1·2) df = 1.5.
        let sp = SeedQuestionSpread::new(&[vec![1.0, 2.0, 3.0], vec![3.0, 4.0, 8.0]])
            .unwrap_or_else(|| panic!("two seeds, three questions"));
        assert_eq!(sp.mean, 3.5);
        assert!((sp.ms_seed - 13.5).abs() < 1e-12);
        assert!((sp.ms_question - 6.5).abs() < 1e-12);
        assert!((sp.ms_residual - 1.5).abs() < 1e-12);
        // (13.5 + 6.5 − 1.5)/6
        assert!((sp.variance_of_mean() - 18.5 / 6.0).abs() < 1e-12);
        // 18.5² / (13.5²/1 + 6.5²/2 + 1.5²/2)
        let df = 18.5f64.powi(2) / (13.5f64.powi(2) + 6.5f64.powi(2) / 2.0 + 1.5f64.powi(2) / 2.0);
        assert!((sp.effective_df() - df).abs() < 1e-12);
        // σ²_e = 1.5; σ²_a = (13.5 − 1.5)/3 = 4; σ²_q = (6.5 − 1.5)/2 = 2.5.
        let c = sp.components();
        assert!((c.residual_sd.powi(2) - 1.5).abs() < 1e-12);
        assert!((c.seed_sd.powi(2) - 4.0).abs() < 1e-12);
        assert!((c.question_sd.powi(2) - 2.5).abs() < 1e-12);
        // The components give back the expected mean squares at the same design.
        let (a, q, e) = c.expected_mean_squares(2, 3);
        assert!((a - 13.5).abs() < 1e-12 && (q - 6.5).abs() < 1e-12 && (e - 1.5).abs() < 1e-12);
        assert!((c.variance_of_mean(2, 3) - sp.variance_of_mean()).abs() < 1e-12);
    }

    #[test]
    fn negative_components_are_truncated() {
        // Identical seeds: MS_seed = 0 < MS_residual = 0 → variance = MS_q/(nS).
        let sp = SeedQuestionSpread::new(&[vec![0.0, 1.0, 0.0], vec![0.0, 1.0, 0.0]])
            .unwrap_or_else(|| panic!("layout"));
        assert_eq!(sp.ms_seed, 0.0);
        assert!((sp.variance_of_mean() - sp.ms_question / 6.0).abs() < 1e-15);
        assert!(SeedQuestionSpread::new(&[vec![1.0, 2.0]]).is_none());
        assert!(SeedQuestionSpread::new(&[vec![1.0], vec![2.0]]).is_none());
    }
}
