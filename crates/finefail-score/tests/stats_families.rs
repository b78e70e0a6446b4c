//! What feeds a verdict besides the test: which metrics are primary (label vs mixed datasets),
//! which comparisons share a Holm family, and the level the minimum detectable effect is stated at.

use finefail_score::stats::power::minimum_detectable_effect;
use finefail_score::{compare_run, HolmFamily, Metric, ScoreRow, StatsConfig, Verdict};

fn row(arm: &str, q: usize, metric: Metric, v: f64) -> ScoreRow {
    ScoreRow {
        arm: arm.into(),
        question_id: format!("q{q:02}"),
        metric,
        value: Some(v),
        repeat: 0,
        judge: None,
        error: None,
    }
}

/// 20 questions; token F1 and answer recall on all, label accuracy on the first `labelled`.
fn dataset_rows(labelled: usize, suffix: &str) -> Vec<ScoreRow> {
    let mut rows = Vec::new();
    for q in 0..20 {
        let (b, f) = (0.2 + 0.01 * q as f64, 0.3 + 0.013 * q as f64);
        for (arm, v) in [("d/m/n0", b), ("d/m/n50/s0", f)] {
            let arm = format!("{arm}{suffix}");
            rows.push(row(&arm, q, Metric::TokenF1, v));
            rows.push(row(&arm, q, Metric::AnswerRecall, v));
            if q < labelled {
                rows.push(row(
                    &arm,
                    q,
                    Metric::LabelAccuracy,
                    f64::from(u8::from(q % 2 == 0)),
                ));
            }
        }
    }
    rows
}

fn primary_metrics(rows: &[ScoreRow]) -> Vec<Metric> {
    compare_run(rows, &StatsConfig::default())
        .expect("compare")
        .into_iter()
        .filter(|c| c.primary)
        .map(|c| c.metric)
        .collect()
}

#[test]
fn a_label_dataset_has_every_question_labelled() {
    assert_eq!(
        primary_metrics(&dataset_rows(20, "")),
        vec![Metric::LabelAccuracy]
    );
    // Mixed: 5 of 20 labelled → free-text primaries; label accuracy secondary on those 5.
    let rows = dataset_rows(5, "");
    assert_eq!(
        primary_metrics(&rows),
        vec![Metric::TokenF1, Metric::AnswerRecall]
    );
    let all = compare_run(&rows, &StatsConfig::default()).expect("compare");
    let label = all
        .iter()
        .find(|c| c.metric == Metric::LabelAccuracy)
        .expect("secondary label accuracy");
    assert!(!label.primary && label.p_holm.is_none() && label.verdict.is_none());
    assert_eq!(label.questions, 5);
}

#[test]
fn control_contexts_form_their_own_holm_family() {
    let main = dataset_rows(0, "");
    let alone = compare_run(&main, &StatsConfig::default()).expect("compare");
    let mut with_controls = main.clone();
    with_controls.extend(dataset_rows(0, "@none"));
    with_controls.extend(dataset_rows(0, "@gold"));
    let all = compare_run(&with_controls, &StatsConfig::default()).expect("compare");
    for c in alone.iter().filter(|c| c.primary) {
        let same = all
            .iter()
            .find(|x| x.context.is_retrieved() && x.metric == c.metric)
            .expect("entry");
        assert_eq!(same.p_holm, c.p_holm, "{}", c.metric);
    }
    // Each control family: two primaries → Holm multiplies the smaller p by 2 (capped).
    for ctx in ["none", "gold"] {
        let ps: Vec<(f64, f64)> = all
            .iter()
            .filter(|c| c.primary && c.context.as_str() == ctx)
            .map(|c| (c.p.unwrap_or(1.0), c.p_holm.unwrap_or(1.0)))
            .collect();
        assert_eq!(ps.len(), 2);
        let min = ps.iter().map(|p| p.0).fold(1.0, f64::min);
        assert!(ps
            .iter()
            .any(|(_, h)| (h - (2.0 * min).min(1.0)).abs() < 1e-15));
    }
}

#[test]
fn the_mde_is_stated_at_the_family_level_and_the_configured_alpha() {
    let rows = dataset_rows(0, "");
    for alpha in [0.05, 0.01] {
        let cfg = StatsConfig {
            alpha,
            ..StatsConfig::default()
        };
        let all = compare_run(&rows, &cfg).expect("compare");
        let f1 = all
            .iter()
            .find(|c| c.metric == Metric::TokenF1)
            .expect("entry");
        assert_eq!(f1.ci_level, 1.0 - alpha);
        let (se, df) = (f1.se.expect("se"), f1.df.expect("df"));
        assert_eq!(df, 19.0);
        // Two primaries in the family: the first Holm step tests at α/2.
        let want = minimum_detectable_effect(se, df, alpha, 2).expect("mde");
        assert_eq!(f1.mde, Some(want));
        // And bigger than the one-test, α = 0.05 figure the report used to print (2.8·se).
        assert!(want > 2.8 * se);
    }
}

/// 20 questions of token F1 and answer recall for `dataset`/m: the base arm and one fine-tuned arm
/// per entry of `tuned` (`n50/s0`, …), each seed shifted a little so seeds differ.
fn arms(dataset: &str, tuned: &[&str], shift: f64) -> Vec<ScoreRow> {
    let mut rows = Vec::new();
    for q in 0..20 {
        let b = 0.2 + 0.01 * q as f64;
        let mut push = |arm: String, v: f64| {
            rows.push(row(&arm, q, Metric::TokenF1, v));
            rows.push(row(&arm, q, Metric::AnswerRecall, v));
        };
        push(format!("{dataset}/m/n0"), b);
        for (k, t) in tuned.iter().enumerate() {
            let wiggle = 0.02 * (((q * 7 + k * 3) % 5) as f64 - 2.0);
            push(format!("{dataset}/m/{t}"), b + shift + wiggle);
        }
    }
    rows
}

#[test]
fn one_seed_verdicts_say_one_adapter_and_keep_out_of_the_seed_aware_family() {
    let rows = arms("d", &["n50/s0", "n50/s1", "n100/s0"], 0.2);
    let all = compare_run(&rows, &StatsConfig::default()).expect("compare");
    let primary: Vec<_> = all.iter().filter(|c| c.primary).collect();
    // vs_base at 50 (seeds 0, 1) and 100 (seed 0); 100 vs 50 paired on their common seed 0.
    assert_eq!(primary.len(), 6);
    for c in &primary {
        if c.seeds.len() == 1 {
            // The one-seed family: N = 100 vs 0 and 100 vs 50, two metrics each.
            assert_eq!(c.m, Some(4), "{} {}", c.n, c.metric);
            assert_ne!(c.verdict, Some(Verdict::Helps));
            assert_ne!(c.verdict, Some(Verdict::Hurts));
        } else {
            // The seed-aware family: N = 50 vs 0, two metrics.
            assert_eq!((c.n, c.m), (50, Some(2)), "{}", c.metric);
            assert_ne!(c.verdict, Some(Verdict::HelpsOneAdapter));
            assert_ne!(c.verdict, Some(Verdict::HurtsOneAdapter));
        }
        if c.n == 100 && c.reference_n == 0 {
            assert_eq!(c.seeds, vec![0]);
            assert_eq!(c.verdict, Some(Verdict::HelpsOneAdapter), "{c:?}");
            let json = serde_json::to_value(c).expect("json");
            assert_eq!(json["verdict"], "helps_one_adapter");
            assert_eq!(Verdict::HelpsOneAdapter.word(), "helps (one adapter)");
        }
    }
    // The N = 50 entries' adjustment does not see the one-seed ones.
    let alone = compare_run(
        &arms("d", &["n50/s0", "n50/s1"], 0.2),
        &StatsConfig::default(),
    )
    .expect("compare");
    for c in alone.iter().filter(|c| c.primary) {
        let same = primary
            .iter()
            .find(|x| x.n == 50 && x.metric == c.metric)
            .expect("entry");
        assert_eq!((same.p_holm, same.m), (c.p_holm, c.m));
    }
    // Without an effect a one-seed entry is plainly inconclusive.
    let null =
        compare_run(&arms("d", &["n100/s0"], 0.0), &StatsConfig::default()).expect("compare");
    assert!(null
        .iter()
        .filter(|c| c.primary)
        .all(|c| c.verdict == Some(Verdict::Inconclusive)));
}

#[test]
fn the_holm_family_is_one_dataset_model_context_unless_widened() {
    let one = arms("d1", &["n50/s0", "n50/s1"], 0.03);
    let mut two = one.clone();
    two.extend(arms("d2", &["n50/s0", "n50/s1"], 0.01));
    let alone = compare_run(&one, &StatsConfig::default()).expect("compare");
    let both = compare_run(&two, &StatsConfig::default()).expect("compare");
    // Adding a dataset leaves the other dataset's adjustment alone.
    for c in alone.iter().filter(|c| c.primary) {
        let same = both
            .iter()
            .find(|x| x.dataset == "d1" && x.metric == c.metric)
            .expect("entry");
        assert_eq!((same.p_holm, same.m, same.mde), (c.p_holm, c.m, c.mde));
        assert_eq!(c.m, Some(2));
    }
    // `stats.family = "context"`: one family across datasets (the rule before issue 24).
    let wide = StatsConfig {
        family: HolmFamily::Context,
        ..StatsConfig::default()
    };
    let all = compare_run(&two, &wide).expect("compare");
    let primary: Vec<_> = all.iter().filter(|c| c.primary).collect();
    assert_eq!(primary.len(), 4);
    assert!(primary.iter().all(|c| c.m == Some(4)));
    let ps: Vec<f64> = primary.iter().filter_map(|c| c.p).collect();
    let min = ps.iter().copied().fold(1.0, f64::min);
    assert!(primary
        .iter()
        .any(|c| c.p_holm == Some((4.0 * min).min(1.0))));
    // The config words.
    assert_eq!(
        serde_json::to_value(HolmFamily::default()).expect("json"),
        "dataset_model_context"
    );
    assert_eq!(
        serde_json::to_value(HolmFamily::Context).expect("json"),
        "context"
    );
}

#[test]
fn a_fine_tuned_arm_without_a_seed_is_an_error() {
    let mut rows = arms("d", &["n50/s0"], 0.1);
    rows.extend(
        arms("d", &["n50"], 0.1)
            .into_iter()
            .filter(|r| r.arm == "d/m/n50"),
    );
    let err = compare_run(&rows, &StatsConfig::default())
        .expect_err("`d/m/n50` is refused, not stored as seed 0");
    assert!(err.is_bad_input(), "{err}");
    assert!(err.to_string().contains("n50"), "{err}");
}
