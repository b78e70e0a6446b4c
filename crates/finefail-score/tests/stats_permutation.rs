//! The verdict's test of the mean: the sign-flip permutation p against scipy's
//! `permutation_test` (recorded in `fixtures/sign_flip_reference.json`) and against an enumeration
//! written here independently; and what the verdict does where Wilcoxon and the mean disagree.

use finefail_score::stats::permutation::{sign_flip_p, FlipMethod};
use finefail_score::stats::rng::Xoshiro256;
use finefail_score::stats::wilcoxon::wilcoxon_p;
use finefail_score::{compare_run, Metric, ScoreRow, StatsConfig, Verdict};
use serde_json::Value;

#[test]
fn matches_scipy_permutation_test() {
    let fx: Value =
        serde_json::from_str(include_str!("fixtures/sign_flip_reference.json")).expect("fixture");
    for case in fx["sign_flip"].as_array().expect("cases") {
        let d: Vec<f64> = case["d"]
            .as_array()
            .expect("d")
            .iter()
            .map(|x| x.as_f64().expect("number"))
            .collect();
        let want = case["p"].as_f64().expect("p");
        let (got, how) = sign_flip_p(&d, 0);
        assert_eq!(how, FlipMethod::Exact);
        assert!(
            (got - want).abs() < 1e-12,
            "{}: {got} vs scipy {want}",
            case["name"]
        );
    }
}

/// Every sign pattern as a bit mask over all differences (zeros included), counting |sum| ≥
/// |observed| in exact rational arithmetic: differences are multiples of 1/1000.
fn enumerate(d: &[f64]) -> f64 {
    let ints: Vec<i64> = d.iter().map(|x| (x * 1000.0).round() as i64).collect();
    assert!(ints.len() <= 26, "enumeration is for small cases");
    let observed: i64 = ints.iter().sum::<i64>().abs();
    let m = ints.len();
    let hits = (0u64..(1 << m))
        .filter(|mask| {
            let s: i64 = ints
                .iter()
                .enumerate()
                .map(|(i, v)| if mask & (1 << i) != 0 { -v } else { *v })
                .sum();
            s.abs() >= observed
        })
        .count();
    hits as f64 / (1u64 << m) as f64
}

#[test]
fn matches_an_independent_enumeration() {
    let mut rng = Xoshiro256::seed_from(99);
    for case in 0..40 {
        let m = 1 + case % 14;
        // Multiples of 1/1000 with many ties and zeros, so tie handling is exercised.
        let d: Vec<f64> = (0..m)
            .map(|_| (rng.below(7) as f64 - 2.0) * 0.125 + if case % 3 == 0 { 0.001 } else { 0.0 })
            .collect();
        let (got, _) = sign_flip_p(&d, 0);
        let want = enumerate(&d);
        assert!((got - want).abs() < 1e-12, "{d:?}: {got} vs {want}");
    }
}

#[test]
fn monte_carlo_p_is_close_to_the_exact_one() {
    // 24 non-zero differences: beyond the exact limit, so 100,000 seeded random patterns; the
    // enumeration above over all 2^24 patterns gives the exact p (Monte-Carlo s.e. ≈ 0.0015).
    let d: Vec<f64> = (0..24)
        .map(|i| if i % 3 == 0 { -0.2 } else { 0.15 })
        .collect();
    let (p, how) = sign_flip_p(&d, 7);
    assert_eq!(how, FlipMethod::MonteCarlo);
    let exact = enumerate(&d);
    assert!(
        (p - exact).abs() < 0.006,
        "Monte Carlo {p} vs exact {exact}"
    );
}

/// A token-F1 score row of question `q{i}`.
fn row(arm: &str, i: usize, v: f64) -> ScoreRow {
    ScoreRow {
        arm: arm.into(),
        question_id: format!("q{i:03}"),
        metric: Metric::TokenF1,
        value: Some(v),
        repeat: 0,
        judge: None,
        error: None,
    }
}

fn rows(base: &[f64], ft: &[f64]) -> Vec<ScoreRow> {
    base.iter()
        .enumerate()
        .map(|(i, v)| row("d/m/n0", i, *v))
        .chain(ft.iter().enumerate().map(|(i, v)| row("d/m/n50/s0", i, *v)))
        .collect()
}

/// Token F1 as the one primary metric.
fn f1_only() -> StatsConfig {
    StatsConfig {
        primary: Some(vec![Metric::TokenF1]),
        ..StatsConfig::default()
    }
}

fn token_f1_entry(base: &[f64], ft: &[f64]) -> finefail_score::Comparison {
    let all = compare_run(&rows(base, ft), &f1_only()).expect("compare");
    all.into_iter()
        .find(|c| c.metric == Metric::TokenF1)
        .expect("token_f1 entry")
}

#[test]
fn the_verdict_follows_the_mean_not_the_wilcoxon_shift() {
    // 40 questions a little better (+0.01), 4 much worse (−0.1): the mean difference is 0, while
    // Wilcoxon sees a strong upward shift of the typical question.
    let base = vec![0.5; 44];
    let ft: Vec<f64> = (0..44).map(|i| if i < 40 { 0.51 } else { 0.4 }).collect();
    let d: Vec<f64> = ft.iter().zip(&base).map(|(f, b)| f - b).collect();
    assert!(wilcoxon_p(&d).unwrap_or(1.0) < 0.001);
    let c = token_f1_entry(&base, &ft);
    assert!(c.diff.abs() < 1e-12);
    assert!(c.p.unwrap_or(0.0) > 0.9, "{:?}", c.p);
    assert!(c.p_wilcoxon.unwrap_or(1.0) < 0.001);
    assert_eq!(c.verdict, Some(Verdict::Inconclusive));
}

#[test]
fn few_non_zero_differences_are_tested_exactly() {
    // 8 non-zero differences (7 up, 1 down) among 30 questions: exact p = 18/256 = 0.0703, not
    // the normal approximation's smaller value; with 7 of 8 up it is not "helps" at 0.05.
    let base = vec![0.0; 30];
    let mut ft = vec![0.0; 30];
    for (i, v) in ft.iter_mut().take(8).enumerate() {
        *v = if i == 7 { -1.0 } else { 1.0 };
    }
    let c = token_f1_entry(&base, &ft);
    assert_eq!(c.p, Some(18.0 / 256.0));
    assert_eq!(c.test, "sign-flip exact");
    assert_eq!(c.training_variance, "not assessed");
    assert_eq!(c.verdict, Some(Verdict::Inconclusive));
    // Wilcoxon's normal approximation calls it at 0.05.
    assert!(c.p_wilcoxon.unwrap_or(1.0) < 0.05);
}

#[test]
fn seed_means_that_round_are_exact_ties() {
    // Three seeds all at 0.4 where the base is 0.4: (0.4 + 0.4 + 0.4)/3 − 0.4 ≠ 0 in floating
    // point; it must count as a tie (all differences zero → p = 1), not as 30 tiny "wins".
    let mut rows = Vec::new();
    for i in 0..30 {
        rows.push(row("d/m/n0", i, 0.4));
        for s in 0..3 {
            rows.push(row(&format!("d/m/n50/s{s}"), i, 0.4));
        }
    }
    let c = compare_run(&rows, &f1_only())
        .expect("compare")
        .into_iter()
        .find(|c| c.metric == Metric::TokenF1)
        .expect("entry");
    assert_eq!(c.diff, 0.0);
    assert_eq!(c.p, Some(1.0));
    assert_eq!(c.p_wilcoxon, Some(1.0));
}
