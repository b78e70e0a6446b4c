//! End-to-end test of `write_report` on a small synthetic run (tests/common): two datasets
//! (free-form and label), two models, two training sizes and two seeds. Expected strings and
//! numbers below are written by hand from the inputs (formatting rules: 3 decimals, signed
//! differences, p < 0.001 as `3.2e-5`).

mod common;

use std::path::Path;

use common::{answer, input};
use finefail_report::{write_report, ReportError};
use polars::prelude::*;

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn writes_every_artefact_with_the_comparison_numbers() -> Result<(), ReportError> {
    let dir = tempfile::tempdir().map_err(|e| ReportError::BadInput(e.to_string()))?;
    let input = input();
    let summary = write_report(&input, dir.path())?;
    let md = read(&summary.markdown);

    // Each comparison's row, formatted by hand: metric | N | mean | diff | CI | p | p (Holm) |
    // verdict | MDE | seed means | seed sd | judge sd | seeds | questions.
    for row in [
        "| token_f1 | 50 | 0.889 | -0.111 | [-0.222, 0.000] | 0.031 | 0.062 | inconclusive | 0.081 | 0.800, 0.900 | 0.071 | — | 0, 1 | 6 |",
        "| answer_recall | 50 | 0.875 | -0.125 | [-0.250, -0.042] | 2.0e-5 | 3.2e-5 | hurts | 0.081 |",
        "| token_f1 | 100 | 1.000 | 0.000 | [0.000, 0.000] | 1.000 | 1.000 | inconclusive |",
        "| token_f1 | 50 | 0.623 | +0.123 | [+0.051, +0.199] | 4.0e-4 | 0.002 | helps |",
        "| label_accuracy | 50 | 0.600 | -0.400 | [-0.800, 0.000] | 0.157 | 0.472 | inconclusive |",
        // Base rows (N = 0) from the comparisons' base means, 6 scored questions.
        "| token_f1 | 0 | 1.000 | — | — | — | — | — | — | — | — | — | — | 6 |",
        "| token_f1 | 0 | 0.500 | — |",
    ] {
        assert!(md.contains(row), "report.md lacks the row\n{row}\n---\n{md}");
    }
    // Summary row and verdict counts (1 helps, 1 hurts, 4 inconclusive).
    assert!(md.contains("1 helps, 1 hurts, 4 inconclusive (of 6 primary comparisons"));
    assert_eq!(summary.verdicts, (1, 1, 4));
    assert!(md.contains("| nqa | m2 | retrieved | 50 | 0 | token_f1 | 2 | 0.500 | 0.623 | +0.123 | [+0.051, +0.199] | 4.0e-4 | 0.002 | 4 | helps | 0.081 |"));
    // At which N: the smallest N that helps (nqa × m2) or hurts (nqa × m1 answer recall).
    assert!(
        md.contains(
            "- nqa × m2, `token_f1`: the smallest N that helps against N = 0 is N = 50 (helps)."
        ),
        "{md}"
    );
    assert!(
        md.contains("the smallest N that hurts against N = 0 is N = 50 (hurts)."),
        "{md}"
    );
    assert!(md.contains("no N helps or hurts against N = 0."), "{md}");
    // Two seeds everywhere: the one warning line.
    assert!(
        md.contains("**Warning:** 6 of 6 primary comparisons rest on fewer than 3 training seeds")
    );
    // Baselines: closed book n0@none answered everything right; majority label yes on 3 of 5.
    assert!(
        md.contains("| closed book (n0@none) | 1.000 | 1.000 |"),
        "{md}"
    );
    assert!(md.contains("| majority label (`yes`) | 0.600 |"), "{md}");
    assert!(md.contains(
        "always answering `yes` scores label_accuracy 0.600 on the 5 test question(s) (60.0 %)"
    ));
    // Data checks.
    assert!(md.contains(
        "recall@2 0.833 and MRR 0.833 over all 6 question(s) of the dataset with known gold"
    ));
    // Recomputed on the test questions the arms answered, as the retrieve step does.
    assert!(
        md.contains("(on the 6 test question(s) answered here that have them: recall@2 0.833 and MRR 0.833)"),
        "{md}"
    );
    // No gold-context arm ran: the text does not promise one.
    assert!(md.contains("A gold-context row appears when `eval.contexts` includes `gold`."));
    assert!(!md.contains("with perfect retrieval"), "{md}");
    assert!(md.contains("1 exact duplicate question(s), 2 near duplicate(s)"));
    assert!(md.contains("3 test answer(s) found verbatim"));
    assert!(md.contains("not available (no `retrieval_metrics.json`)"));
    // Failure attribution of n50/s0 on token_f1: q1 retrieval_miss, q3 context_ignored.
    assert!(
        md.contains("| nqa/m1/n50/s0 | token_f1 | 2 | 1 | 1 | 0 | 0 |"),
        "{md}"
    );
    assert!(
        md.contains("| nqa/m1/n50/s1 | token_f1 | 1 | 1 | 0 | 0 | 0 |"),
        "{md}"
    );
    // pqa n50 answers `yes` everywhere: loses p4 and p5; no retrieval, short answers: other.
    assert!(
        md.contains("| pqa/m1/n50/s0 | label_accuracy | 2 | 0 | 0 | 0 | 2 |"),
        "{md}"
    );
    // Largest regressions on token_f1 for m1: q3 (F1 0 in s0, 1 in s1: mean 0.5), then q1
    // (2/3 in both seeds).
    assert!(md.contains("| 50 | q3 | Question q3? | 1.000 | 0.500 | -0.500 |\n| 50 | q1 | Question q1? | 1.000 | 0.667 | -0.333 |\n"), "{md}");
    // Judge errors.
    assert!(md.contains("| nqa/m1/n50/s1 | 1 |"));
    assert!(md.contains("How to read this"));
    // The level the run used, in the text and the headers.
    assert!(
        md.contains("α = 0.05") && md.contains("| 95 % CI |"),
        "{md}"
    );
    // Label questions: per arm, how many answers carry a label and how accurate those are (the
    // fine-tuned arm always says "yes": every answer has a label, 3 of 5 right).
    assert!(md.contains("| pqa/m1/n0 | 5 | 100.0 % | 1.000 |"), "{md}");
    assert!(
        md.contains("| pqa/m1/n50/s0 | 5 | 100.0 % | 0.600 |"),
        "{md}"
    );

    // Plots: every figure exists as SVG and PNG and is valid.
    let plots = summary.report_dir.join("plots");
    let figures: Vec<&str> = md
        .lines()
        .filter_map(|l| {
            l.strip_prefix("![")
                .and_then(|l| l.split("](plots/").nth(1))
        })
        .map(|l| l.trim_end_matches(".svg)"))
        .collect();
    assert_eq!(figures.len(), summary.plots);
    // The forest plot; curves: nqa token_f1, nqa answer_recall, pqa label_accuracy; scatters: nqa
    // m1 n50 and n100 (2 metrics each), m2 n50 (1: m2's primary is token_f1 only), pqa n50.
    assert_eq!(summary.plots, 1 + 3 + 4 + 1 + 1, "{figures:?}");
    for stem in &figures {
        let svg = read(&plots.join(format!("{stem}.svg")));
        assert!(
            svg.contains("<svg") && svg.trim_end().ends_with("</svg>"),
            "{stem}"
        );
        let png = std::fs::read(plots.join(format!("{stem}.png")))
            .map_err(|e| ReportError::BadInput(e.to_string()))?;
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{stem}");
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let reader = decoder
            .read_info()
            .map_err(|e| ReportError::BadInput(e.to_string()))?;
        assert!(reader.info().width >= 400 && reader.info().height >= 400);
    }
    assert!(figures.contains(&"nqa__token_f1__vs_n"));
    assert!(figures.contains(&"nqa__m1__n50__token_f1__scatter"));

    // HTML: self-contained, the same numbers, one inline SVG per figure.
    let html = read(&summary.html);
    for banned in ["http://", "https://", "<link", "<script", "src=", "<img"] {
        let outside_svg = html
            .split("<svg")
            .enumerate()
            .map(|(i, part)| {
                if i == 0 {
                    part
                } else {
                    part.split("</svg>").nth(1).unwrap_or("")
                }
            })
            .any(|text| text.contains(banned));
        assert!(!outside_svg, "report.html refers outside itself: {banned}");
    }
    assert!(!html.contains("xlink:href=\"http"));
    assert_eq!(html.matches("<svg").count(), summary.plots);
    assert!(html.contains("<td class=\"hurts\">hurts</td>"));
    assert!(html.contains("<td class=\"num\">[-0.250, -0.042]</td>"));

    // Per-question tables: one row per answer (questions × arms).
    let arms_rows = 6 * 9 + 5 * 2;
    assert_eq!(summary.per_question_rows, arms_rows);
    let file = std::fs::File::open(&summary.per_question_parquet)
        .map_err(|e| ReportError::BadInput(e.to_string()))?;
    let df = ParquetReader::new(file)
        .finish()
        .map_err(|e| ReportError::BadInput(e.to_string()))?;
    assert_eq!(df.height(), arms_rows);
    for c in finefail_report::per_question::FIXED_COLUMNS {
        assert!(df.column(c).is_ok(), "missing column {c}");
    }
    assert!(df.column("token_f1_vs_base").is_ok() && df.column("label_accuracy").is_ok());
    assert!(
        df.column("accuracy").is_err(),
        "only an error row has accuracy"
    );
    // nqa/m1/n50/s0 on q1: F1("Broncos", "Denver Broncos") = 2/3 against the base's 1.
    let mask = df
        .column("arm")
        .and_then(|c| c.str().cloned())
        .map_err(|e| ReportError::BadInput(e.to_string()))?;
    let qid = df
        .column("question_id")
        .and_then(|c| c.str().cloned())
        .map_err(|e| ReportError::BadInput(e.to_string()))?;
    let diff = df
        .column("token_f1_vs_base")
        .and_then(|c| c.f64().cloned())
        .map_err(|e| ReportError::BadInput(e.to_string()))?;
    let chunks = df
        .column("retrieved_chunk_ids")
        .map_err(|e| ReportError::BadInput(e.to_string()))?;
    let errors = df
        .column("judge_error_rows")
        .and_then(|c| c.i64().cloned())
        .map_err(|e| ReportError::BadInput(e.to_string()))?;
    let mut found = 0;
    for i in 0..df.height() {
        match (mask.get(i), qid.get(i)) {
            (Some("nqa/m1/n50/s0"), Some("q1")) => {
                let d = diff.get(i).unwrap_or(f64::NAN);
                assert!((d + 1.0 / 3.0).abs() < 1e-12, "{d}");
                let ids = chunks.get(i).map(|v| v.to_string()).unwrap_or_default();
                assert!(ids.contains("d9#0") && ids.contains("d8#1"), "{ids}");
                found += 1;
            }
            (Some("nqa/m1/n50/s1"), Some("q2")) => {
                assert_eq!(errors.get(i), Some(1));
                found += 1;
            }
            (Some("nqa/m1/n0"), Some("q1")) => {
                assert_eq!(diff.get(i), Some(0.0));
                found += 1;
            }
            _ => {}
        }
    }
    assert_eq!(found, 3);
    let csv = read(&summary.per_question_csv);
    assert_eq!(csv.lines().count(), arms_rows + 1);
    assert!(
        csv.contains("\"[\"\"d9#0\"\",\"\"d8#1\"\"]\""),
        "lists as JSON in the CSV"
    );

    // Rewriting replaces the report, removes what a killed run left behind, and leaves no
    // temporary files.
    std::fs::create_dir(dir.path().join(".report.tmp-1-0"))
        .and_then(|()| std::fs::write(dir.path().join(".per_question.csv.tmp-1-1"), "x"))
        .map_err(|e| ReportError::BadInput(e.to_string()))?;
    write_report(&input, dir.path())?;
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .map_err(|e| ReportError::BadInput(e.to_string()))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["per_question.csv", "per_question.parquet", "report"]
    );
    Ok(())
}

#[test]
fn arm_of_an_unknown_dataset_is_bad_input() {
    let mut input = input();
    input.answers.push(answer("other/m1/n0", "q1", "x"));
    let dir = tempfile::tempdir().map_err(|e| e.to_string());
    let Ok(dir) = dir else { panic!("tempdir") };
    let err = write_report(&input, dir.path()).err();
    assert!(
        err.as_ref()
            .is_some_and(|e| e.is_bad_input() && e.to_string().contains("other")),
        "{err:?}"
    );
    assert!(!dir.path().join("report").exists());
}

#[test]
fn answer_to_an_unknown_question_is_bad_input() {
    let mut input = input();
    input.answers.push(answer("nqa/m1/n0", "q99", "x"));
    let Ok(dir) = tempfile::tempdir() else {
        panic!("tempdir")
    };
    let err = write_report(&input, dir.path()).err();
    assert!(err.is_some_and(|e| e.is_bad_input() && e.to_string().contains("q99")));
}

#[test]
fn a_run_without_arms_still_gets_a_report() -> Result<(), ReportError> {
    let mut input = input();
    input.answers.clear();
    input.scores.clear();
    input.comparison.comparisons.clear();
    let dir = tempfile::tempdir().map_err(|e| ReportError::BadInput(e.to_string()))?;
    let summary = write_report(&input, dir.path())?;
    assert_eq!((summary.per_question_rows, summary.plots), (0, 0));
    let md = read(&summary.markdown);
    assert!(md.contains("No primary comparison"));
    assert!(md.contains("No arm of this dataset was scored."));
    assert!(summary.per_question_parquet.is_file() && summary.per_question_csv.is_file());
    Ok(())
}

#[test]
fn trends_and_vs_previous_rows_reach_the_summary_only() -> Result<(), ReportError> {
    let dir = tempfile::tempdir().map_err(|e| ReportError::BadInput(e.to_string()))?;
    let mut input = input();
    // A vs_previous entry (100 against 50) and a primary trend for nqa × m2.
    let mut prev = input
        .comparison
        .comparisons
        .iter()
        .find(|c| c.primary && c.dataset == "nqa" && c.model == "m2")
        .cloned()
        .expect("a primary entry");
    prev.kind = finefail_score::ComparisonKind::VsPrevious;
    prev.n = 100;
    prev.reference_n = 50;
    prev.diff = 0.0421;
    input.comparison.comparisons.push(prev);
    input.comparison.trends.push(
        serde_json::from_value(serde_json::json!({
            "dataset": "nqa", "model": "m2", "context": "retrieved", "metric": "token_f1",
            "primary": true, "sizes": [50, 100], "seeds": [0, 1], "questions": 6,
            "slope_per_doubling": 0.0421, "ci_low": -0.01, "ci_high": 0.09, "ci_level": 0.95,
            "p": 0.2, "p_holm": 0.2, "m": 1, "verdict": "inconclusive",
            "test": "pivot seeds×questions", "training_variance": "assessed"
        }))
        .map_err(|e| ReportError::BadInput(e.to_string()))?,
    );
    let summary = write_report(&input, dir.path())?;
    let md = read(&summary.markdown);
    assert!(md.contains("## Trend across N"), "{md}");
    assert!(
        md.contains("| nqa | m2 | retrieved | 50, 100 | token_f1 | 2 | +0.042 | [-0.010, +0.090] | 0.200 | 0.200 | 1 | inconclusive |"),
        "{md}"
    );
    // The vs_previous row is in the summary (N 100 against 50), not in the per-dataset tables.
    assert!(
        md.contains("| nqa | m2 | retrieved | 100 | 50 | token_f1 | 2 |"),
        "{md}"
    );
    assert!(md.contains("| +0.042 | [+0.051, +0.199]"), "{md}");
    assert!(!md.contains("| token_f1 | 100 | 0.623 | +0.042 |"), "{md}");
    Ok(())
}

/// The report opens with the answer: findings and the forest plot come before the reading guide,
/// and a fine-tune with fewer than 10 optimizer steps is flagged with its numbers.
#[test]
fn the_first_screen_has_the_forest_plot_and_flags_barely_trained_fine_tunes(
) -> Result<(), ReportError> {
    let dir = tempfile::tempdir().map_err(|e| ReportError::BadInput(e.to_string()))?;
    let summary = write_report(&input(), dir.path())?;
    let md = read(&summary.markdown);
    let at = |s: &str| md.find(s).unwrap_or_else(|| panic!("`{s}` missing:\n{md}"));
    assert!(at("![forest](plots/forest.svg)") < at("## How to read this"));
    assert!(at("## Summary: primary comparisons") < at("![forest]"));
    assert!(dir.path().join("report/plots/forest.png").is_file());
    assert!(md.contains("**Barely trained:** 1 of 2 fine-tunes took fewer than 10 optimizer steps or lowered their validation loss by less than 2 % of its value before training"), "{md}");
    assert!(
        md.contains("- `nqa/m1/n50/s0`: 7 steps on 50 examples, final training loss 0.980; validation loss 1.000 before training, 0.990 after (down 1.0 %); flagged for fewer than 10 steps and validation loss down by less than 2 %\n"),
        "{md}"
    );
    assert!(!md.contains("`nqa/m1/n100/s0`: 13 steps"), "{md}");
    Ok(())
}

/// A fine-tune is flagged as barely trained by its steps or by a validation loss that fell by
/// less than 2 % (both numbers printed, the change with enough decimals to agree with the flag);
/// one that was never validated is judged by its steps only and its line says nothing about
/// validation loss.
#[test]
fn barely_trained_also_by_a_small_validation_loss_drop() -> Result<(), ReportError> {
    let tune = |name: &str, steps, initial, last| finefail_report::FineTuneSummary {
        name: name.into(),
        steps,
        examples: 100,
        final_loss: Some(0.8),
        final_val_loss: last,
        initial_val_loss: initial,
    };
    let mut input = input();
    input.fine_tunes = vec![
        tune("nqa/m1/n100/s0", 40, Some(1.25), Some(1.24)),
        tune("nqa/m1/n100/s1", 40, Some(1.0), Some(0.9804)),
        tune("nqa/m2/n50/s0", 40, Some(1.0), Some(0.9)),
        tune("nqa/m2/n50/s1", 40, Some(1.0), Some(1.05)),
        tune("pqa/m1/n50/s0", 4, None, None),
        tune("pqa/m1/n50/s1", 40, None, None),
    ];
    let dir = tempfile::tempdir().map_err(|e| ReportError::BadInput(e.to_string()))?;
    let md = read(&write_report(&input, dir.path())?.markdown);
    assert!(md.contains("**Barely trained:** 4 of 6 fine-tunes took fewer than 10 optimizer steps or lowered their validation loss by less than 2 %"), "{md}");
    for line in [
        "- `nqa/m1/n100/s0`: 40 steps on 100 examples, final training loss 0.800; validation loss 1.250 before training, 1.240 after (down 0.8 %); flagged for validation loss down by less than 2 %\n",
        // 1.96 % would print 2.0 % with one decimal: two decimals keep it below the threshold.
        "- `nqa/m1/n100/s1`: 40 steps on 100 examples, final training loss 0.800; validation loss 1.000 before training, 0.980 after (down 1.96 %); flagged for validation loss down by less than 2 %\n",
        "- `nqa/m2/n50/s1`: 40 steps on 100 examples, final training loss 0.800; validation loss 1.000 before training, 1.050 after (up 5.0 %); flagged for validation loss down by less than 2 %\n",
        "- `pqa/m1/n50/s0`: 4 steps on 100 examples, final training loss 0.800; flagged for fewer than 10 steps\n",
    ] {
        assert!(md.contains(line), "missing\n{line}\n---\n{md}");
    }
    assert!(
        !md.contains("`nqa/m2/n50/s0`"),
        "a 10 % drop is training: {md}"
    );
    assert!(!md.contains("`pqa/m1/n50/s1`"), "{md}");

    // No fine-tune validated: the flag is about steps only and says nothing about validation.
    for f in &mut input.fine_tunes {
        (f.initial_val_loss, f.final_val_loss) = (None, None);
    }
    let md = read(&write_report(&input, dir.path())?.markdown);
    let start = md.find("**Barely trained:**").expect("flag");
    let flag = &md[start..md[start..].find("\n\n#").map_or(md.len(), |e| start + e)];
    assert!(
        flag.starts_with(
            "**Barely trained:** 1 of 6 fine-tunes took fewer than 10 optimizer steps, so"
        ),
        "{flag}"
    );
    assert!(!flag.contains("validation"), "{flag}");
    Ok(())
}

/// Only primary metrics reach the summary and the findings; the secondary ones are in their own
/// labelled table after every dataset, without a verdict or a Holm p, and the summary names the
/// primary metrics and who chose them.
#[test]
fn exploratory_metrics_are_listed_apart_from_the_primaries() -> Result<(), ReportError> {
    let dir = tempfile::tempdir().map_err(|e| ReportError::BadInput(e.to_string()))?;
    let mut input = input();
    let md = read(&write_report(&input, dir.path())?.markdown);
    let at = |md: &str, s: &str| md.find(s).unwrap_or_else(|| panic!("`{s}` missing:\n{md}"));
    let heading = "## Exploratory metrics (no verdict, unadjusted)";
    assert!(at(&md, heading) > at(&md, "## Dataset `pqa`"), "{md}");
    // Before it, exact_match (the one secondary metric) appears nowhere: not in the summary, the
    // findings or the per-dataset tables.
    assert!(!md[..at(&md, heading)].contains("| exact_match |"), "{md}");
    assert!(!md[..at(&md, heading)].contains("`exact_match`"), "{md}");
    let below = &md[at(&md, heading)..];
    assert!(
        below.contains("| dataset | model | context | N | vs N | metric | seeds | base | fine-tuned | diff | 95 % CI (unadjusted) | p (unadjusted) | questions | kind |"),
        "{below}"
    );
    assert!(
        below.contains("| nqa | m1 | retrieved | 50 | 0 | exact_match | 2 | 1.000 | 0.750 | -0.250 | [-0.500, 0.000] | 0.250 | 6 | exploratory |"),
        "{below}"
    );
    // Only the one secondary row: no primary metric below the heading.
    assert!(
        !below.contains("| token_f1 |") && !below.contains("helps"),
        "{below}"
    );
    assert!(md.contains(
        "**Primary metrics** (chosen by the default rule: the judge's `accuracy` and `completeness` when a judge ran, `label_accuracy` on a label dataset, else `token_f1` and `answer_recall`): `nqa`: `token_f1`, `answer_recall`; `pqa`: `label_accuracy`. Only these get a verdict and a Holm family; every other metric is exploratory and listed apart under \"Exploratory metrics (no verdict, unadjusted)\" further down."
    ), "{md}");
    assert!(at(&md, "**Primary metrics**") < at(&md, "## How to read this"));

    // Primaries from the config; no secondary metric: no exploratory section, and the summary
    // does not point to one.
    input.comparison.primary_source = finefail_score::PrimarySource::Config;
    input.comparison.comparisons.retain(|c| c.primary);
    let md = read(&write_report(&input, dir.path())?.markdown);
    assert!(md.contains("**Primary metrics** (set in the config (`stats.primary`)): `nqa`: `token_f1`, `answer_recall`; `pqa`: `label_accuracy`. Only these get a verdict and a Holm family.\n"), "{md}");
    assert!(!md.contains("Exploratory metrics"), "{md}");
    Ok(())
}

/// On a label dataset the label-accuracy curve carries the majority-label baseline as a dashed
/// line with a legend entry, and its caption says so; a free-text dataset's curves do not.
#[test]
fn label_curves_draw_the_majority_label_line() -> Result<(), ReportError> {
    let dir = tempfile::tempdir().map_err(|e| ReportError::BadInput(e.to_string()))?;
    let summary = write_report(&input(), dir.path())?;
    let md = read(&summary.markdown);
    let plots = summary.report_dir.join("plots");
    let label = read(&plots.join("pqa__label_accuracy__vs_n.svg"));
    assert!(label.contains("majority label (yes)"), "{label}");
    let free = read(&plots.join("nqa__token_f1__vs_n.svg"));
    assert!(!free.contains("majority label"));
    assert!(
        md.contains(
            "The dashed line is the majority-label baseline: always answering `yes` scores 0.600."
        ),
        "{md}"
    );
    // The HTML inlines the same SVG, legend included.
    assert!(read(&summary.html).contains("majority label (yes)"));
    Ok(())
}
