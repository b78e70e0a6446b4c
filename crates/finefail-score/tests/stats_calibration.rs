//! Calibration of the verdict: simulated studies without a true effect, where each training seed's
//! adapter shifts every score by N(0, τ), must be called *helps/hurts* in at most α of studies
//! (plus Monte-Carlo error) for S ≥ 3 seeds — and a control shows that resampling questions only
//! (what the verdict did before) is far from calibrated, so this check can fail. The fuller
//! version, through `compare` with its full draw counts and more settings, is
//! `scripts/stats-calibration.sh`.

use finefail_score::stats::components::SeedQuestionSpread;
use finefail_score::stats::family::verdict;
use finefail_score::stats::pivot::pivot_test;
use finefail_score::stats::rng::Xoshiro256;
use finefail_score::stats::simulate::{simulate_study, verdict_counts, StudySpec};
use finefail_score::{QuestionScores, StatsConfig, Verdict};

const ALPHA: f64 = 0.05;

fn spec(seeds: usize, seed_sd: f64, effect: f64, binary: bool) -> StudySpec {
    StudySpec {
        seeds,
        questions: 200,
        seed_sd,
        effect,
        binary,
    }
}

/// Per-seed differences `[seed][question]` of a simulated study.
fn differences(base: &QuestionScores, seeds: &[(u64, QuestionScores)]) -> Vec<Vec<f64>> {
    seeds
        .iter()
        .map(|(_, s)| base.iter().map(|(q, b)| s[q][0] - b[0]).collect())
        .collect()
}

/// Share of `studies` simulated studies the pivot (with `draws` draws) calls helps/hurts.
fn pivot_rate(spec: &StudySpec, studies: usize, draws: usize, seed: u64) -> f64 {
    let mut rng = Xoshiro256::seed_from(seed);
    let mut called = 0;
    for k in 0..studies {
        let (base, seeds) = simulate_study(spec, &mut rng);
        let d = differences(&base, &seeds);
        let spread = SeedQuestionSpread::new(&d).expect("≥ 2 seeds and questions");
        let r = pivot_test(&spread, draws, k as u64, 1.0 - ALPHA);
        if verdict(r.p, spread.mean, Some(r.low), Some(r.high), ALPHA) != Verdict::Inconclusive {
            called += 1;
        }
    }
    called as f64 / studies as f64
}

/// Share called by a test that resamples questions only: a z-test of the seed-averaged differences.
fn question_only_rate(spec: &StudySpec, studies: usize, seed: u64) -> f64 {
    let mut rng = Xoshiro256::seed_from(seed);
    let mut called = 0;
    for _ in 0..studies {
        let (base, seeds) = simulate_study(spec, &mut rng);
        let d = differences(&base, &seeds);
        let n = d[0].len();
        let avg: Vec<f64> = (0..n)
            .map(|i| d.iter().map(|s| s[i]).sum::<f64>() / d.len() as f64)
            .collect();
        let mean = avg.iter().sum::<f64>() / n as f64;
        let var = avg.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        if (mean / (var / n as f64).sqrt()).abs() > 1.959_964 {
            called += 1;
        }
    }
    called as f64 / studies as f64
}

/// α plus 2.5 Monte-Carlo standard errors of a rate estimated from `studies` studies.
fn ceiling(studies: usize) -> f64 {
    ALPHA + 2.5 * (ALPHA * (1.0 - ALPHA) / studies as f64).sqrt()
}

#[test]
fn no_effect_is_called_at_most_alpha_of_the_time_with_three_seeds() {
    let studies = 800;
    for (tau, binary) in [(0.0, false), (0.04, false), (0.08, false), (0.08, true)] {
        let rate = pivot_rate(&spec(3, tau, 0.0, binary), studies, 2_000, 17);
        assert!(
            rate <= ceiling(studies),
            "τ = {tau}, binary = {binary}: helps/hurts in {rate} of studies without an effect"
        );
    }
}

#[test]
fn question_only_resampling_is_not_calibrated() {
    // The control: the same studies judged by questions only call far too many effects.
    let rate = question_only_rate(&spec(3, 0.08, 0.0, false), 800, 17);
    assert!(rate > 0.2, "question-only test called {rate}");
}

#[test]
fn a_true_effect_is_found() {
    // +0.15 with little training variance: found nearly always.
    let rate = pivot_rate(&spec(3, 0.02, 0.15, false), 200, 2_000, 5);
    assert!(rate > 0.9, "power {rate}");
}

#[test]
fn compare_end_to_end_on_simulated_studies() {
    let cfg = StatsConfig::default();
    let none = verdict_counts(&spec(3, 0.04, 0.0, false), 30, &cfg, 1).expect("compare");
    assert!(none.called() <= 0.2, "{none:?}");
    let big = verdict_counts(&spec(3, 0.02, 0.3, false), 10, &cfg, 2).expect("compare");
    assert_eq!(big.helps, 10, "{big:?}");
    let hurt = verdict_counts(&spec(3, 0.02, -0.3, true), 10, &cfg, 3).expect("compare");
    assert_eq!(hurt.hurts, 10, "{hurt:?}");
}
