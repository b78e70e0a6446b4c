//! What feeds a verdict besides the test: which metrics are primary (label vs mixed datasets),
//! which comparisons share a Holm family, and the level the minimum detectable effect is stated at.

use finefail_score::stats::power::minimum_detectable_effect;
use finefail_score::{compare_run, Metric, ScoreRow, StatsConfig};

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
