//! Statistics checked against values computed by numpy/scipy (`fixtures/make_stats_reference.py`).

use std::collections::BTreeMap;

use finefail_score::stats::{bootstrap::bootstrap_ci, holm::holm, mcnemar, wilcoxon};
use finefail_score::{compare, ComparisonInput, Metric, QuestionScores, StatsConfig};
use serde_json::Value;

fn fixture() -> Value {
    let text = include_str!("fixtures/stats_reference.json");
    serde_json::from_str(text).expect("fixture parses")
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

fn rel_close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * b.abs().max(1e-300)
}

#[test]
fn wilcoxon_matches_scipy() {
    for case in fixture()["wilcoxon"].as_array().expect("cases") {
        let d = floats(&case["d"]);
        let want = f(&case["p"]);
        let got = wilcoxon::wilcoxon_p(&d).expect("has non-zero differences");
        assert!(
            rel_close(got, want, 1e-10),
            "{}: {got} vs scipy {want}",
            case["name"]
        );
    }
}

#[test]
fn mcnemar_matches_scipy_binomtest() {
    for case in fixture()["mcnemar"].as_array().expect("cases") {
        let (b, c) = (
            case["b"].as_u64().expect("b"),
            case["c"].as_u64().expect("c"),
        );
        let (got, want) = (mcnemar::mcnemar_exact_p(b, c), f(&case["p"]));
        assert!(rel_close(got, want, 1e-9), "b={b} c={c}: {got} vs {want}");
    }
}

#[test]
fn holm_matches_reference() {
    for case in fixture()["holm"].as_array().expect("cases") {
        let got = holm(&floats(&case["p"]));
        for (g, w) in got.iter().zip(floats(&case["adjusted"])) {
            assert!((g - w).abs() < 1e-12, "{got:?}");
        }
    }
}

#[test]
fn bootstrap_ci_within_monte_carlo_error_of_numpy() {
    for case in fixture()["bootstrap"].as_array().expect("cases") {
        let d = floats(&case["d"]);
        let se = f(&case["se_mean"]);
        let (lo, hi) = bootstrap_ci(&d, 10_000, 0, 0.95).expect("ci");
        // MC s.e. of a 2.5 % quantile with 10,000 resamples ≈ 0.027·se; allow ~4 s.e.
        assert!(
            (lo - f(&case["ci_low"])).abs() < 0.1 * se,
            "{}: low {lo}",
            case["name"]
        );
        assert!(
            (hi - f(&case["ci_high"])).abs() < 0.1 * se,
            "{}: high {hi}",
            case["name"]
        );
    }
}

fn scores(ids: &[String], rows: &Value) -> QuestionScores {
    ids.iter()
        .zip(rows.as_array().expect("rows"))
        .map(|(q, r)| (q.clone(), floats(r)))
        .collect()
}

#[test]
fn compare_judge_metric_end_to_end() {
    let fx = fixture();
    let cj = &fx["compare_judge"];
    let ids: Vec<String> = cj["questions"]
        .as_array()
        .expect("ids")
        .iter()
        .map(|v| v.as_str().expect("id").to_owned())
        .collect();
    let base = scores(&ids, &cj["base"]);
    let seeds: Vec<(u64, QuestionScores)> = vec![
        (0, scores(&ids, &cj["seeds"]["0"])),
        (1, scores(&ids, &cj["seeds"]["1"])),
    ];
    let input = ComparisonInput {
        dataset: "nqa",
        model: "m",
        n: 50,
        context: finefail_core::AnswerContext::Retrieved,
        metric: Metric::Accuracy,
        primary: true,
        base: &base,
        seeds: &seeds,
    };
    let c = compare(&input, &StatsConfig::default()).expect("compare");
    assert_eq!(c.questions, 30);
    assert_eq!(c.seeds, vec![0, 1]);
    for (got, key) in [
        (c.base_mean, "base_mean"),
        (c.ft_mean, "ft_mean"),
        (c.diff, "diff"),
        (c.p_wilcoxon.unwrap_or(f64::NAN), "p"),
        (c.seed_sd.unwrap_or(f64::NAN), "seed_sd"),
        (c.judge_sd.unwrap_or(f64::NAN), "judge_sd"),
    ] {
        assert!(
            rel_close(got, f(&cj[key]), 1e-9),
            "{key}: {got} vs {}",
            cj[key]
        );
    }
    for (g, w) in c.seed_means.iter().zip(floats(&cj["seed_means"])) {
        assert!(rel_close(*g, w, 1e-12));
    }
    // Two seeds: the CI and p come from the seeds × questions pivot, so they are wider than the
    // question-only bootstrap the fixture records (which ignores training variance).
    let (lo, hi) = (c.ci_low.unwrap_or(f64::NAN), c.ci_high.unwrap_or(f64::NAN));
    assert!(
        lo <= f(&cj["ci_low"]) && hi >= f(&cj["ci_high"]),
        "[{lo}, {hi}]"
    );
    assert_eq!(c.test, "pivot seeds×questions");
    assert_eq!(c.training_variance, "assessed");
    assert_eq!(
        (c.p_holm, c.verdict),
        (None, None),
        "Holm comes from apply_holm"
    );
}

#[test]
fn compare_binary_one_seed_reports_mcnemar() {
    let fx = fixture();
    let cb = &fx["compare_binary"];
    let to_scores = |v: &Value| -> QuestionScores {
        floats(v)
            .into_iter()
            .enumerate()
            .map(|(i, x)| (format!("q{i:03}"), vec![x]))
            .collect::<BTreeMap<_, _>>()
    };
    let base = to_scores(&cb["base"]);
    let seeds = vec![(7, to_scores(&cb["ft"]))];
    let input = ComparisonInput {
        dataset: "pubmedqa",
        model: "m",
        n: 100,
        context: finefail_core::AnswerContext::Retrieved,
        metric: Metric::LabelAccuracy,
        primary: true,
        base: &base,
        seeds: &seeds,
    };
    let c = compare(&input, &StatsConfig::default()).expect("compare");
    assert!(
        rel_close(c.p_mcnemar.unwrap_or(f64::NAN), f(&cb["p"]), 1e-9),
        "{:?}",
        c.p_mcnemar
    );
    assert!(rel_close(c.diff, f(&cb["diff"]), 1e-12));
    assert_eq!(c.seed_sd, None);
    assert_eq!(c.judge_sd, None);
}
