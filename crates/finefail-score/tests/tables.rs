//! `scores.parquet` and `comparison.json` round trips, and the pinned `comparison.json` keys.

use finefail_score::{
    compare_run, read_comparison, read_scores, write_comparison, write_scores, ComparisonFile,
    Metric, ScoreError, ScoreRow, StatsConfig, Verdict,
};

fn row(arm: &str, q: &str, metric: Metric, value: Option<f64>) -> ScoreRow {
    ScoreRow {
        arm: arm.into(),
        question_id: q.into(),
        metric,
        value,
        repeat: 0,
        judge: None,
        error: None,
    }
}

fn tmp() -> Result<tempfile::TempDir, ScoreError> {
    tempfile::tempdir().map_err(|e| ScoreError::Internal(e.to_string()))
}

#[test]
fn scores_round_trip() -> Result<(), ScoreError> {
    let dir = tmp()?;
    let path = dir.path().join("scores").join("scores.parquet");
    let mut judged = row("d/m/n50/s1", "q2", Metric::Accuracy, None);
    judged.repeat = 3;
    judged.judge = Some("gpt@judge-v1".into());
    judged.error = Some("HTTP 500".into());
    let rows = vec![
        row("d/m/n0", "q1", Metric::TokenF1, Some(0.5)),
        row("d/m/n0", "q1", Metric::AnswerTokens, Some(12.0)),
        judged,
    ];
    write_scores(&path, &rows)?;
    assert_eq!(read_scores(&path)?, rows);
    // Only the final file is left: the temp file was renamed into place.
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap_or(dir.path()))
        .map_err(|e| ScoreError::Internal(e.to_string()))?
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("scores.parquet")]);
    Ok(())
}

#[test]
fn a_row_without_value_or_error_is_refused() -> Result<(), ScoreError> {
    let dir = tmp()?;
    let path = dir.path().join("scores.parquet");
    let err = write_scores(&path, &[row("d/m/n0", "q1", Metric::TokenF1, None)]).err();
    assert!(err.is_some());
    let err = write_scores(
        &path,
        &[row("d/m/n0", "q1", Metric::TokenF1, Some(f64::NAN))],
    )
    .err();
    assert!(err.is_some());
    assert!(!path.exists());
    Ok(())
}

/// Base and one fine-tuned seed on 6 questions; the fine-tuned arm is better on token_f1.
fn run_rows() -> Vec<ScoreRow> {
    let mut rows = Vec::new();
    for i in 0..6 {
        let q = format!("q{i}");
        let b = 0.125 * i as f64;
        rows.push(row("d/m/n0", &q, Metric::TokenF1, Some(b)));
        rows.push(row("d/m/n50/s0", &q, Metric::TokenF1, Some(b + 0.25)));
        rows.push(row("d/m/n0", &q, Metric::AnswerRecall, Some(0.5)));
        rows.push(row("d/m/n50/s0", &q, Metric::AnswerRecall, Some(0.5)));
        rows.push(row("d/m/n0", &q, Metric::ExactMatch, Some(0.0)));
        rows.push(row(
            "d/m/n50/s0",
            &q,
            Metric::ExactMatch,
            Some(f64::from(u8::from(i < 2))),
        ));
        rows.push(row("d/m/n0", &q, Metric::AnswerTokens, Some(10.0)));
        rows.push(row("d/m/n50/s0", &q, Metric::AnswerTokens, Some(12.0)));
    }
    rows
}

/// JSON equality with numbers equal to 1e-14 relative.
fn approx_eq(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value as V;
    match (a, b) {
        (V::Number(x), V::Number(y)) => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            (x - y).abs() <= 1e-14 * x.abs().max(y.abs()).max(1e-300)
        }
        (V::Array(x), V::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| approx_eq(x, y))
        }
        (V::Object(x), V::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| approx_eq(v, w)))
        }
        _ => a == b,
    }
}

#[test]
fn comparison_json_has_exactly_the_pinned_keys() -> Result<(), ScoreError> {
    let comparisons = compare_run(&run_rows(), &StatsConfig::default())?;
    let metrics: Vec<Metric> = comparisons.iter().map(|c| c.metric).collect();
    assert_eq!(
        metrics,
        vec![
            Metric::ExactMatch,
            Metric::TokenF1,
            Metric::AnswerRecall,
            Metric::AnswerTokens
        ]
    );
    let f1 = &comparisons[1];
    assert!(f1.primary && f1.diff == 0.25);
    assert_eq!((f1.ci_low, f1.ci_high), (Some(f1.diff), Some(f1.diff)));
    // Six differences of +0.25: the sign-flip test counts the all-up and all-down patterns, 2/64.
    assert_eq!(f1.p, Some(2.0 / 64.0));
    // Wilcoxon, an extra column: R+ = 21, mean 10.5, σ² = (546 − 105)/24;
    // scipy.stats.wilcoxon([0.25] * 6, zero_method="wilcox", correction=False, method="approx").
    let pw = f1.p_wilcoxon.unwrap_or(1.0);
    assert!((pw - 0.014305878435429648).abs() < 1e-12, "{pw}");
    // Holm over two primaries: token_f1 (p) and answer_recall (all zero differences, p = 1):
    // 0.0625 is not below 0.05, so six questions are not enough for a verdict.
    assert_eq!(f1.p_holm, Some(2.0 / 32.0));
    assert_eq!(f1.verdict, Some(Verdict::Inconclusive));
    assert_eq!(f1.training_variance, "not assessed");
    let recall = &comparisons[2];
    assert_eq!(
        (recall.p, recall.p_holm, recall.verdict),
        (Some(1.0), Some(1.0), Some(Verdict::Inconclusive))
    );
    // Secondary: exact_match with one seed and 0/1 values: sign flip over the two non-zero
    // differences → 2/4; McNemar b = 0, c = 2 → 0.5 too.
    let em = &comparisons[0];
    assert_eq!(
        (em.primary, em.p, em.p_mcnemar, em.p_holm, em.verdict),
        (false, Some(0.5), Some(0.5), None, None)
    );
    // Descriptive: no test.
    let tokens = &comparisons[3];
    assert_eq!(
        (tokens.primary, tokens.p, tokens.verdict),
        (false, None, None)
    );
    assert_eq!(tokens.diff, 2.0);

    let file = ComparisonFile {
        config_hash: "abc123".into(),
        alpha: 0.05,
        primary_source: finefail_score::PrimarySource::Config,
        comparisons,
        trends: vec![],
    };
    let dir = tmp()?;
    let path = dir.path().join("comparison.json");
    write_comparison(&path, &file)?;
    // serde_json's default float parsing may differ from the written value in the last ulp.
    let back = serde_json::to_value(read_comparison(&path)?)
        .map_err(|e| ScoreError::Internal(e.to_string()))?;
    let orig = serde_json::to_value(&file).map_err(|e| ScoreError::Internal(e.to_string()))?;
    assert!(approx_eq(&back, &orig), "{back}\n{orig}");
    let text = std::fs::read_to_string(&path).map_err(|e| ScoreError::Internal(e.to_string()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| ScoreError::Internal(e.to_string()))?;
    let top: Vec<&String> = v
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    assert_eq!(
        top,
        vec![
            "alpha",
            "comparisons",
            "config_hash",
            "primary_source",
            "trends"
        ]
    );
    assert_eq!(v["primary_source"], "config");
    let mut keys: Vec<String> = v["comparisons"][0]
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    keys.sort();
    let mut want = vec![
        "dataset",
        "model",
        "n",
        "kind",
        "reference_n",
        "context",
        "metric",
        "primary",
        "base_mean",
        "ft_mean",
        "diff",
        "ci_low",
        "ci_high",
        "ci_level",
        "p",
        "p_holm",
        "m",
        "p_wilcoxon",
        "p_mcnemar",
        "test",
        "se",
        "df",
        "mde",
        "verdict",
        "seeds",
        "questions",
        "seed_means",
        "seed_sd",
        "judge_sd",
        "training_variance",
    ];
    want.sort();
    assert_eq!(keys, want);
    assert_eq!(v["comparisons"][1]["verdict"], "inconclusive");
    assert_eq!(v["comparisons"][1]["kind"], "vs_base");
    assert_eq!(v["comparisons"][1]["m"], 2);
    assert_eq!(v["alpha"], 0.05);
    assert_eq!(v["comparisons"][1]["metric"], "token_f1");
    Ok(())
}

#[test]
fn run_level_bad_input() {
    // A fine-tuned arm on a different question set.
    let mut rows = run_rows();
    rows.push(row("d/m/n50/s0", "q99", Metric::TokenF1, Some(1.0)));
    let err = compare_run(&rows, &StatsConfig::default()).err();
    assert!(err.is_some_and(|e| e.is_bad_input() && e.to_string().contains("different set")));
    // No base arm.
    let rows: Vec<ScoreRow> = run_rows()
        .into_iter()
        .filter(|r| r.arm != "d/m/n0")
        .collect();
    let err = compare_run(&rows, &StatsConfig::default()).err();
    assert!(err.is_some_and(|e| e.is_bad_input() && e.to_string().contains("no base arm")));
    // Too few bootstrap resamples.
    let cfg = StatsConfig {
        bootstrap: 999,
        ..StatsConfig::default()
    };
    let err = compare_run(&run_rows(), &cfg).err();
    assert!(err.is_some_and(|e| e.is_bad_input() && e.to_string().contains("bootstrap")));
    // Bad arm name.
    let err = compare_run(
        &[row("nonsense", "q", Metric::TokenF1, Some(1.0))],
        &StatsConfig::default(),
    )
    .err();
    assert!(err.is_some_and(|e| e.is_bad_input()));
}
