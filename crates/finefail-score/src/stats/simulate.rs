//! Simulated studies for checking that verdicts are calibrated: no true effect should give
//! *helps/hurts* in at most α of studies, however much each seed's adapter shifts the scores.
//! Used by the calibration test (`tests/stats_calibration.rs`) and by the fuller check
//! (`scripts/stats-calibration.sh`).
//!
//! A study: `questions` test questions, `seeds` fine-tuned adapters. Seed s shifts every answer by
//! `a_s ~ N(0, seed_sd)` (training variance). The score models ([`ScoreModel`]):
//! - continuous: the per-question difference is `effect + a_s + u_i + e_si` with a shared question
//!   part `u ~ N(0, 0.2)` and a per-adapter part `e ~ N(0, 0.22)` (one-seed difference sd ≈ 0.3);
//! - binary: base correct with probability `p_i ~ U(0.1, 0.9)`, fine-tuned with
//!   `clamp(p_i + effect + a_s, 0, 1)`;
//! - ties-heavy binary: the same with `p_i` near 0 or 1 — `U(0.85, 0.99)` for half the questions
//!   (easy), one minus that for the other half (hard) — so about 86 % of the (base, fine-tuned)
//!   pairs tie and the differences are mostly exact zeros, as for label accuracy on a dataset most
//!   questions of which every arm gets right or every arm gets wrong. The mixture is symmetric
//!   about ½ because clamping at 0 and 1 is: a shift then moves the mean as far up as its negative
//!   moves it down, so without an effect the mean difference is exactly 0 in expectation (with
//!   `p_i ~ U(0.85, 0.99)` alone, clamping at 1 would turn seed noise into a true negative effect).
//!   The binary model's `U(0.1, 0.9)` is symmetric for the same reason.

use super::compare::{compare, ComparisonInput, QuestionScores, StatsConfig, Verdict};
use super::family::verdict;
use super::rng::Xoshiro256;
use crate::{Metric, ScoreError};

/// Shared question part of a continuous difference (sd).
pub const QUESTION_SD: f64 = 0.2;
/// Per-adapter, per-question part of a continuous difference (sd).
pub const RESIDUAL_SD: f64 = 0.22;

/// The design of one simulated study.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StudySpec {
    /// Training seeds (adapters).
    pub seeds: usize,
    /// Test questions.
    pub questions: usize,
    /// τ: sd of each adapter's shift of the scores.
    pub seed_sd: f64,
    /// The true mean difference.
    pub effect: f64,
    /// How the scores are drawn.
    pub scores: ScoreModel,
}

/// The score model of a simulated study (the module documentation gives the formulas).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ScoreModel {
    /// Continuous scores (token F1, a judge's 0–1 grade): differences of sd ≈ 0.3.
    #[default]
    Continuous,
    /// 0/1 scores (label accuracy, exact match), correctness probabilities spread over 0.1–0.9.
    Binary,
    /// 0/1 scores whose correctness probabilities sit near 0 or 1, so most pairs tie: the
    /// discrete, zero-heavy differences a normal approximation handles worst.
    TiesHeavyBinary,
}

impl ScoreModel {
    /// Whether the scores are 0/1.
    pub fn is_binary(self) -> bool {
        !matches!(self, ScoreModel::Continuous)
    }

    /// A base correctness probability for one question (binary models only).
    fn base_probability(self, rng: &mut Xoshiro256) -> f64 {
        match self {
            ScoreModel::TiesHeavyBinary => {
                let easy = 0.85 + 0.14 * rng.uniform();
                if rng.uniform() < 0.5 {
                    easy
                } else {
                    1.0 - easy
                }
            }
            _ => 0.1 + 0.8 * rng.uniform(),
        }
    }
}

/// One simulated study's base scores and per-seed fine-tuned scores, as `compare` takes them.
pub fn simulate_study(
    spec: &StudySpec,
    rng: &mut Xoshiro256,
) -> (QuestionScores, Vec<(u64, QuestionScores)>) {
    let shifts: Vec<f64> = (0..spec.seeds)
        .map(|_| spec.seed_sd * rng.normal())
        .collect();
    let id = |i: usize| format!("q{i:04}");
    let mut base = QuestionScores::new();
    let mut tuned: Vec<(u64, QuestionScores)> = (0..spec.seeds)
        .map(|s| (s as u64, QuestionScores::new()))
        .collect();
    for i in 0..spec.questions {
        if spec.scores.is_binary() {
            let p = spec.scores.base_probability(rng);
            let b = f64::from(u8::from(rng.uniform() < p));
            base.insert(id(i), vec![b]);
            for (s, (_, scores)) in tuned.iter_mut().enumerate() {
                let q = (p + spec.effect + shifts[s]).clamp(0.0, 1.0);
                scores.insert(id(i), vec![f64::from(u8::from(rng.uniform() < q))]);
            }
        } else {
            let b = 0.5 + 0.2 * rng.normal();
            let shared = QUESTION_SD * rng.normal();
            base.insert(id(i), vec![b]);
            for (s, (_, scores)) in tuned.iter_mut().enumerate() {
                let d = spec.effect + shifts[s] + shared + RESIDUAL_SD * rng.normal();
                scores.insert(id(i), vec![b + d]);
            }
        }
    }
    (base, tuned)
}

/// How often simulated studies were called each way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VerdictCounts {
    /// Studies simulated.
    pub studies: usize,
    /// Called `helps`.
    pub helps: usize,
    /// Called `hurts`.
    pub hurts: usize,
}

impl VerdictCounts {
    /// Share of studies called `helps` or `hurts`: the false-positive rate without a true effect,
    /// the power with one.
    pub fn called(&self) -> f64 {
        (self.helps + self.hurts) as f64 / self.studies.max(1) as f64
    }
}

/// Runs `studies` simulated studies through [`compare`] (one primary comparison each, so the Holm
/// p is the p) and counts the verdicts. Each study's statistics use their own `stats.seed`.
pub fn verdict_counts(
    spec: &StudySpec,
    studies: usize,
    cfg: &StatsConfig,
    seed: u64,
) -> Result<VerdictCounts, ScoreError> {
    let mut rng = Xoshiro256::seed_from(seed);
    let mut counts = VerdictCounts {
        studies,
        ..VerdictCounts::default()
    };
    let metric = if spec.scores.is_binary() {
        Metric::LabelAccuracy
    } else {
        Metric::TokenF1
    };
    for k in 0..studies {
        let (base, seeds) = simulate_study(spec, &mut rng);
        let input = ComparisonInput {
            dataset: "sim",
            model: "m",
            n: 100,
            context: finefail_core::AnswerContext::Retrieved,
            metric,
            primary: true,
            base: &base,
            seeds: &seeds,
        };
        let study_cfg = StatsConfig {
            seed: seed.wrapping_add(k as u64 + 1),
            ..cfg.clone()
        };
        let c = compare(&input, &study_cfg)?;
        let p = c.p.unwrap_or(1.0);
        match verdict(p, c.diff, c.ci_low, c.ci_high, cfg.alpha) {
            // `verdict` itself never says "one adapter"; that wording comes from the family.
            Verdict::Helps | Verdict::HelpsOneAdapter => counts.helps += 1,
            Verdict::Hurts | Verdict::HurtsOneAdapter => counts.hurts += 1,
            Verdict::Inconclusive => {}
        }
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Per-seed differences `[seed][question]`, flattened.
    fn differences(spec: &StudySpec, rng: &mut Xoshiro256) -> Vec<f64> {
        let (base, seeds) = simulate_study(spec, rng);
        seeds
            .iter()
            .flat_map(|(_, s)| base.iter().map(|(q, b)| s[q][0] - b[0]).collect::<Vec<_>>())
            .collect()
    }

    #[test]
    fn ties_heavy_scores_mostly_tie_and_carry_no_effect() {
        let spec = StudySpec {
            seeds: 3,
            questions: 200,
            seed_sd: 0.08,
            effect: 0.0,
            scores: ScoreModel::TiesHeavyBinary,
        };
        let mut rng = Xoshiro256::seed_from(4);
        let d: Vec<f64> = (0..200)
            .flat_map(|_| differences(&spec, &mut rng))
            .collect();
        let ties = d.iter().filter(|x| **x == 0.0).count() as f64 / d.len() as f64;
        assert!((0.8..0.9).contains(&ties), "ties {ties}");
        // 120,000 differences of sd < 0.4, correlated within a study: the mean is 0 within 0.01.
        let mean = d.iter().sum::<f64>() / d.len() as f64;
        assert!(mean.abs() < 0.01, "mean {mean}");
        let binary = StudySpec {
            scores: ScoreModel::Binary,
            ..spec
        };
        let d = differences(&binary, &mut rng);
        let ties = d.iter().filter(|x| **x == 0.0).count() as f64 / d.len() as f64;
        assert!(ties < 0.75, "ties {ties}");
    }
}
