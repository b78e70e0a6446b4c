//! Simulated studies for checking that verdicts are calibrated: no true effect should give
//! *helps/hurts* in at most α of studies, however much each seed's adapter shifts the scores.
//! Used by the calibration test (`tests/stats_calibration.rs`) and by the fuller check
//! (`scripts/stats-calibration.sh`).
//!
//! A study: `questions` test questions, `seeds` fine-tuned adapters. Seed s shifts every answer by
//! `a_s ~ N(0, seed_sd)` (training variance). Continuous scores: the per-question difference is
//! `effect + a_s + u_i + e_si` with a shared question part `u ~ N(0, 0.2)` and a per-adapter part
//! `e ~ N(0, 0.22)` (one-seed difference sd ≈ 0.3). Binary scores: base correct with probability
//! `p_i ~ U(0.1, 0.9)`, fine-tuned with `clamp(p_i + effect + a_s, 0, 1)`.

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
    /// 0/1 scores (label accuracy, exact match) instead of continuous ones.
    pub binary: bool,
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
        if spec.binary {
            let p = 0.1 + 0.8 * rng.uniform();
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
    let metric = if spec.binary {
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
