//! `vs_previous` comparisons (size N against the previous size) checked against numpy/scipy
//! (`fixtures/make_sizes_reference.py`): seeds paired by seed id, the seeds × questions mean
//! squares, standard error and Satterthwaite df exactly, the pivot's CI and p within Monte Carlo
//! error of numpy's own draws; with one common seed the exact sign-flip test and McNemar.

use finefail_score::stats::components::SeedQuestionSpread;
use finefail_score::{
    analyse_run, compare_run, compare_sizes, trend, ComparisonKind, Metric, QuestionScores,
    ScoreRow, SizesInput, StatsConfig, TrendInput,
};
use serde_json::Value;

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/sizes_reference.json")).expect("fixture parses")
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn f(v: &Value) -> f64 {
    v.as_f64().expect("number")
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * b.abs().max(1e-12)
}

/// `{"seed": [per-question score]}` → (seed, question id → [score]).
fn arms(v: &Value) -> Vec<(u64, QuestionScores)> {
    v.as_object()
        .expect("object")
        .iter()
        .map(|(s, scores)| {
            let q: QuestionScores = floats(scores)
                .into_iter()
                .enumerate()
                .map(|(i, x)| (format!("q{i:03}"), vec![x]))
                .collect();
            (s.parse().expect("seed"), q)
        })
        .collect()
}

fn case(name: &str) -> Value {
    fixture()["vs_previous"]
        .as_array()
        .expect("cases")
        .iter()
        .find(|c| c["name"] == name)
        .cloned()
        .expect("case")
}

fn run_case(c: &Value, metric: Metric) -> finefail_score::Comparison {
    let (reference, seeds) = (arms(&c["reference"]), arms(&c["ft"]));
    let input = SizesInput {
        dataset: "d",
        model: "m",
        n: 100,
        reference_n: 50,
        context: finefail_core::AnswerContext::Retrieved,
        metric,
        primary: true,
        reference: &reference,
        seeds: &seeds,
    };
    compare_sizes(&input, &StatsConfig::default()).expect("compare")
}

#[test]
fn several_seeds_match_numpy() {
    for name in ["three_seeds_gain", "seed_sets_differ"] {
        let c = case(name);
        let got = run_case(&c, Metric::TokenF1);
        assert_eq!(got.kind, ComparisonKind::VsPrevious);
        assert_eq!((got.n, got.reference_n), (100, 50));
        let want_seeds: Vec<u64> = floats(&c["seeds"]).iter().map(|s| *s as u64).collect();
        assert_eq!(got.seeds, want_seeds, "{name}: seeds paired by id");
        assert_eq!(got.test, "pivot seeds×questions");
        for (g, key) in [
            (got.base_mean, "base_mean"),
            (got.ft_mean, "ft_mean"),
            (got.diff, "diff"),
            (got.se.unwrap_or(f64::NAN), "se"),
            (got.df.unwrap_or(f64::NAN), "df"),
            (got.p_wilcoxon.unwrap_or(f64::NAN), "p_wilcoxon"),
            (got.seed_sd.unwrap_or(f64::NAN), "seed_sd"),
        ] {
            assert!(
                close(g, f(&c[key]), 1e-9),
                "{name} {key}: {g} vs {}",
                c[key]
            );
        }
        for (g, w) in got.seed_means.iter().zip(floats(&c["seed_means"])) {
            assert!(close(*g, w, 1e-12), "{name} seed means");
        }
        // The mean squares themselves, from the per-seed differences.
        let (reference, seeds) = (arms(&c["reference"]), arms(&c["ft"]));
        let d: Vec<Vec<f64>> = got
            .seeds
            .iter()
            .map(|s| {
                let ft = &seeds.iter().find(|(x, _)| x == s).expect("seed").1;
                let r = &reference.iter().find(|(x, _)| x == s).expect("ref").1;
                ft.iter().map(|(q, v)| v[0] - r[q][0]).collect()
            })
            .collect();
        let sp = SeedQuestionSpread::new(&d).expect("layout");
        for (g, key) in [
            (sp.ms_seed, "ms_seed"),
            (sp.ms_question, "ms_question"),
            (sp.ms_residual, "ms_residual"),
        ] {
            assert!(close(g, f(&c[key]), 1e-9), "{name} {key}: {g}");
        }
        // Pivot: 100,000 draws here, 2,000,000 in numpy. Quantiles within 3 % of the interval's
        // width; p within 5 Monte Carlo s.e. of a proportion from 100,000 draws.
        let (lo, hi) = (
            got.ci_low.unwrap_or(f64::NAN),
            got.ci_high.unwrap_or(f64::NAN),
        );
        let width = f(&c["ci_high"]) - f(&c["ci_low"]);
        assert!(
            (lo - f(&c["ci_low"])).abs() < 0.03 * width,
            "{name}: low {lo}"
        );
        assert!(
            (hi - f(&c["ci_high"])).abs() < 0.03 * width,
            "{name}: high {hi}"
        );
        let (p, want) = (got.p.unwrap_or(f64::NAN), f(&c["p"]));
        let mc = 5.0 * 2.0 * (want / 2.0 * (1.0 - want / 2.0) / 100_000.0).sqrt();
        assert!((p - want).abs() < mc, "{name}: p {p} vs numpy {want}");
    }
}

#[test]
fn one_common_seed_uses_the_exact_sign_flip_test() {
    let c = case("one_common_seed_binary");
    let got = run_case(&c, Metric::LabelAccuracy);
    assert_eq!(got.seeds, vec![0]);
    assert_eq!(got.test, "sign-flip exact");
    assert_eq!(got.training_variance, "not assessed");
    for (g, key) in [
        (got.base_mean, "base_mean"),
        (got.ft_mean, "ft_mean"),
        (got.diff, "diff"),
        (got.p.unwrap_or(f64::NAN), "p"),
        (got.p_mcnemar.unwrap_or(f64::NAN), "p_mcnemar"),
        (got.p_wilcoxon.unwrap_or(f64::NAN), "p_wilcoxon"),
    ] {
        assert!(close(g, f(&c[key]), 1e-9), "{key}: {g} vs {}", c[key]);
    }
    // No seed in common: nothing to pair.
    let reference = arms(&c["reference"]);
    let other: Vec<(u64, QuestionScores)> =
        arms(&c["ft"]).into_iter().map(|(_, q)| (9, q)).collect();
    let input = SizesInput {
        dataset: "d",
        model: "m",
        n: 100,
        reference_n: 50,
        context: finefail_core::AnswerContext::Retrieved,
        metric: Metric::LabelAccuracy,
        primary: true,
        reference: &reference,
        seeds: &other,
    };
    let err = compare_sizes(&input, &StatsConfig::default()).expect_err("no common seed");
    assert!(err.is_bad_input() && err.to_string().contains("share no training seed"));
}

fn row(arm: &str, q: usize, v: f64) -> ScoreRow {
    ScoreRow {
        arm: arm.into(),
        question_id: format!("q{q:03}"),
        metric: Metric::TokenF1,
        value: Some(v),
        repeat: 0,
        judge: None,
        error: None,
    }
}

#[test]
fn compare_run_adds_vs_previous_entries_in_the_family() {
    // Sizes 0, 50, 100, 200 with seeds 0 and 1: three vs_base and two vs_previous entries, the
    // latter equal to compare_sizes on the same arms.
    let c = case("three_seeds_gain");
    let (reference, ft) = (arms(&c["reference"]), arms(&c["ft"]));
    let mut rows = Vec::new();
    for q in 0..60 {
        let key = format!("q{q:03}");
        rows.push(row("d/m/n0", q, 0.3));
        for s in [0u64, 1] {
            let r = reference.iter().find(|(x, _)| *x == s).expect("seed").1[&key][0];
            let f = ft.iter().find(|(x, _)| *x == s).expect("seed").1[&key][0];
            rows.push(row(&format!("d/m/n50/s{s}"), q, r));
            rows.push(row(&format!("d/m/n100/s{s}"), q, f));
            rows.push(row(&format!("d/m/n200/s{s}"), q, f + 0.01 * (q % 3) as f64));
        }
    }
    let cfg = StatsConfig {
        primary: Some(vec![Metric::TokenF1]),
        ..StatsConfig::default()
    };
    let all = compare_run(&rows, &cfg).expect("compare");
    let kinds: Vec<(ComparisonKind, u64, u64)> =
        all.iter().map(|c| (c.kind, c.n, c.reference_n)).collect();
    assert_eq!(
        kinds,
        vec![
            (ComparisonKind::VsBase, 50, 0),
            (ComparisonKind::VsBase, 100, 0),
            (ComparisonKind::VsBase, 200, 0),
            (ComparisonKind::VsPrevious, 100, 50),
            (ComparisonKind::VsPrevious, 200, 100),
        ]
    );
    // One family of five primaries (dataset, model, context; all seed-aware).
    assert!(all.iter().all(|c| c.m == Some(5) && c.verdict.is_some()));
    let two: Vec<(u64, QuestionScores)> = reference.into_iter().filter(|(s, _)| *s < 2).collect();
    let two_ft: Vec<(u64, QuestionScores)> = ft.into_iter().filter(|(s, _)| *s < 2).collect();
    let direct = compare_sizes(
        &SizesInput {
            dataset: "d",
            model: "m",
            n: 100,
            reference_n: 50,
            context: finefail_core::AnswerContext::Retrieved,
            metric: Metric::TokenF1,
            primary: true,
            reference: &two,
            seeds: &two_ft,
        },
        &cfg,
    )
    .expect("compare");
    let in_run = &all[3];
    assert_eq!(
        (in_run.diff, in_run.ci_low, in_run.ci_high, in_run.p),
        (direct.diff, direct.ci_low, direct.ci_high, direct.p)
    );
    let json = serde_json::to_value(in_run).expect("json");
    assert_eq!(json["kind"], "vs_previous");
    assert_eq!(json["reference_n"], 50);
    // And one trend across 50, 100, 200 on the seeds all three ran: its own family of one.
    let (again, trends) = analyse_run(&rows, &cfg).expect("analyse");
    assert_eq!(again, all);
    assert_eq!(trends.len(), 1);
    let t = &trends[0];
    assert_eq!(
        (t.sizes.clone(), t.seeds.clone()),
        (vec![50, 100, 200], vec![0, 1])
    );
    assert_eq!((t.m, t.p_holm), (Some(1), Some(t.p)));
    assert!(t.verdict.is_some());
    let json = serde_json::to_value(t).expect("json");
    for key in [
        "slope_per_doubling",
        "ci_low",
        "ci_high",
        "p",
        "verdict",
        "metric",
    ] {
        assert!(json.get(key).is_some(), "{key}");
    }
}

fn trend_case(name: &str) -> Value {
    fixture()["trends"]
        .as_array()
        .expect("cases")
        .iter()
        .find(|c| c["name"] == name)
        .cloned()
        .expect("case")
}

fn trend_of(c: &Value) -> finefail_score::Trend {
    let sizes: Vec<(u64, Vec<(u64, QuestionScores)>)> = c["scores"]
        .as_object()
        .expect("sizes")
        .iter()
        .map(|(n, per_seed)| (n.parse().expect("size"), arms(per_seed)))
        .collect();
    let input = TrendInput {
        dataset: "d",
        model: "m",
        context: finefail_core::AnswerContext::Retrieved,
        metric: Metric::TokenF1,
        primary: true,
        sizes: &sizes,
    };
    trend(&input, &StatsConfig::default())
        .expect("trend")
        .expect("two or more sizes")
}

#[test]
fn the_trend_matches_numpy() {
    let c = trend_case("three_sizes_three_seeds");
    let t = trend_of(&c);
    assert_eq!(t.sizes, vec![50, 100, 200]);
    assert_eq!(t.seeds, vec![0, 1, 2]);
    assert_eq!(t.test, "pivot seeds×questions");
    // The contrast's mean is numpy.polyfit's slope of the per-size means on log2 N.
    let slope = t.slope_per_doubling;
    assert!(close(slope, f(&c["slope_per_doubling"]), 1e-9), "{slope}");
    assert!(close(slope, f(&c["polyfit_slope"]), 1e-9), "{slope}");
    let (lo, hi) = (t.ci_low.unwrap_or(f64::NAN), t.ci_high.unwrap_or(f64::NAN));
    let width = f(&c["ci_high"]) - f(&c["ci_low"]);
    assert!((lo - f(&c["ci_low"])).abs() < 0.03 * width, "low {lo}");
    assert!((hi - f(&c["ci_high"])).abs() < 0.03 * width, "high {hi}");
    let want = f(&c["p"]);
    let mc = 5.0 * 2.0 * (want / 2.0 * (1.0 - want / 2.0) / 100_000.0).sqrt();
    assert!((t.p - want).abs() < mc, "p {} vs numpy {want}", t.p);

    let c = trend_case("four_sizes_one_seed");
    let t = trend_of(&c);
    assert_eq!(
        (t.test.as_str(), t.seeds.clone()),
        ("sign-flip exact", vec![0])
    );
    assert!(close(t.slope_per_doubling, f(&c["polyfit_slope"]), 1e-9));
    assert!(close(t.p, f(&c["p"]), 1e-12), "{} vs {}", t.p, c["p"]);
    assert_eq!(t.training_variance, "not assessed");
}

#[test]
fn with_two_sizes_the_trend_is_the_vs_previous_difference_per_doubling() {
    let c = case("three_seeds_gain");
    let sizes = vec![(25, arms(&c["reference"])), (100, arms(&c["ft"]))];
    let t = trend(
        &TrendInput {
            dataset: "d",
            model: "m",
            context: finefail_core::AnswerContext::Retrieved,
            metric: Metric::TokenF1,
            primary: true,
            sizes: &sizes,
        },
        &StatsConfig::default(),
    )
    .expect("trend")
    .expect("two sizes");
    let prev = run_case(&c, Metric::TokenF1);
    // 25 → 100 is two doublings.
    assert!(close(t.slope_per_doubling, prev.diff / 2.0, 1e-9));
    assert!(close(
        t.ci_low.unwrap_or(0.0),
        prev.ci_low.unwrap_or(1.0) / 2.0,
        1e-9
    ));
    assert_eq!(t.p, prev.p.unwrap_or(f64::NAN));
    // One size: no trend.
    let one = trend(
        &TrendInput {
            dataset: "d",
            model: "m",
            context: finefail_core::AnswerContext::Retrieved,
            metric: Metric::TokenF1,
            primary: true,
            sizes: &sizes[..1],
        },
        &StatsConfig::default(),
    )
    .expect("trend");
    assert!(one.is_none());
}
