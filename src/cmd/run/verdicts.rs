//! The end of `finefail run`: the primary comparisons' verdicts as an aligned table on stdout and
//! where the report is, so the answer to "did fine-tuning help?" is on the screen without opening
//! a file. Numbers are formatted as the report formats them.

use finefail_core::{files, RunLayout};
use finefail_report::format::{ci_header, interval, p_value_at, signed};
use finefail_score::{read_comparison, ComparisonFile, Verdict};
use std::path::Path;

fn verdict_word(v: Option<Verdict>) -> &'static str {
    v.map_or("—", Verdict::word)
}

/// The one warning line for primary comparisons that rest on fewer than 3 training seeds, or
/// `None` when every one has at least 3.
pub fn few_seeds_warning(file: &ComparisonFile) -> Option<String> {
    let primary: Vec<_> = file.comparisons.iter().filter(|c| c.primary).collect();
    let one = primary.iter().filter(|c| c.seeds.len() == 1).count();
    let two = primary.iter().filter(|c| c.seeds.len() == 2).count();
    if one + two == 0 {
        return None;
    }
    Some(format!(
        "warning: {} of {} primary comparisons rest on fewer than 3 training seeds ({one} on one, \
         {two} on two): one seed speaks about one adapter only, two give the seed-aware test little \
         power (docs/metrics.md, \"Calibration\"); plan for 3 or more",
        one + two,
        primary.len()
    ))
}

/// The table's lines: a header, then one row per primary comparison (main context first, then
/// the `none` / `gold` controls), in the file's order within each.
pub fn table(file: &ComparisonFile) -> Vec<String> {
    let mut primary: Vec<_> = file.comparisons.iter().filter(|c| c.primary).collect();
    primary.sort_by_key(|c| !c.context.is_retrieved());
    let level = primary.first().map_or(1.0 - file.alpha, |c| c.ci_level);
    let header: Vec<String> = [
        "dataset",
        "model",
        "N",
        "vs",
        "context",
        "metric",
        "seeds",
        "diff",
        &format!("{} (unadjusted)", ci_header(level)),
        "p",
        "p_holm",
        "m",
        "verdict",
    ]
    .map(String::from)
    .to_vec();
    let rows: Vec<Vec<String>> = primary
        .iter()
        .map(|c| {
            vec![
                c.dataset.clone(),
                c.model.clone(),
                finefail_report::sides::treated(c),
                finefail_report::sides::reference(c),
                c.context.to_string(),
                c.metric.to_string(),
                c.seeds.len().to_string(),
                signed(c.diff),
                interval(c.ci_low, c.ci_high),
                p_value_at(c.p, file.alpha),
                p_value_at(c.p_holm, file.alpha),
                c.m.map_or_else(|| "—".to_string(), |m| m.to_string()),
                verdict_word(c.verdict).to_string(),
            ]
        })
        .collect();
    // Numbers right-aligned (N, vs, seeds, diff, p, p_holm, m), text left-aligned.
    let right = [
        false, false, true, true, false, false, true, true, false, true, true, true, false,
    ];
    aligned(&header, &rows, &right)
}

/// The primary trends across N (`trends[]`), as lines: a header, then one row per trend; only a
/// header when there is none.
pub fn trend_table(file: &ComparisonFile) -> Vec<String> {
    let mut primary: Vec<_> = file.trends.iter().filter(|t| t.primary).collect();
    primary.sort_by_key(|t| !t.context.is_retrieved());
    let level = primary.first().map_or(1.0 - file.alpha, |t| t.ci_level);
    let header: Vec<String> = [
        "dataset",
        "model",
        "N",
        "context",
        "metric",
        "seeds",
        "per doubling",
        &format!("{} (unadjusted)", ci_header(level)),
        "p",
        "p_holm",
        "m",
        "verdict",
    ]
    .map(String::from)
    .to_vec();
    let rows: Vec<Vec<String>> = primary
        .iter()
        .map(|t| {
            let sizes: Vec<String> = t.sizes.iter().map(u64::to_string).collect();
            let sizes = match &t.format {
                Some(f) => format!("{f}:{}", sizes.join(",")),
                None => sizes.join(","),
            };
            vec![
                t.dataset.clone(),
                t.model.clone(),
                sizes,
                t.context.to_string(),
                t.metric.to_string(),
                t.seeds.len().to_string(),
                signed(t.slope_per_doubling),
                interval(t.ci_low, t.ci_high),
                p_value_at(Some(t.p), file.alpha),
                p_value_at(t.p_holm, file.alpha),
                t.m.map_or_else(|| "—".to_string(), |m| m.to_string()),
                verdict_word(t.verdict).to_string(),
            ]
        })
        .collect();
    let right = [
        false, false, false, false, false, true, true, false, true, true, true, false,
    ];
    aligned(&header, &rows, &right)
}

/// `header` and `rows` as space-aligned lines; columns flagged in `right` right-aligned.
fn aligned(header: &[String], rows: &[Vec<String>], right: &[bool]) -> Vec<String> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let parts: Vec<String> = cells
            .iter()
            .zip(&widths)
            .zip(right)
            .map(|((c, &w), &r)| {
                let pad = " ".repeat(w.saturating_sub(c.chars().count()));
                if r {
                    format!("{pad}{c}")
                } else {
                    format!("{c}{pad}")
                }
            })
            .collect();
        parts.join("  ").trim_end().to_string()
    };
    std::iter::once(line(header))
        .chain(rows.iter().map(|r| line(r)))
        .collect()
}

/// Prints the verdict table of `run_dir/comparison.json` and the report's path; prints nothing
/// when the run stopped before comparing.
pub fn print(run_dir: &Path) -> anyhow::Result<()> {
    let path = RunLayout::new(run_dir).comparison();
    if !path.is_file() {
        return Ok(());
    }
    let file = read_comparison(&path)?;
    let lines = table(&file);
    if lines.len() > 1 {
        println!(
            "\nverdicts (primary metrics, N against size `vs`; helps/hurts need p_holm < α = {} within a family of m and a CI on one side of 0):",
            file.alpha
        );
        for l in lines {
            println!("  {l}");
        }
        let trends = trend_table(&file);
        if trends.len() > 1 {
            println!(
                "\ntrends across N (primary metrics; slope of the metric per doubling of N over the fine-tuned sizes):"
            );
            for l in trends {
                println!("  {l}");
            }
        }
        if let Some(w) = few_seeds_warning(&file) {
            println!("{w}");
        }
    }
    let html = RunLayout::new(run_dir).report().join(files::REPORT_HTML);
    if html.is_file() {
        println!("\nreport: {}", html.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use finefail_score::Comparison;

    fn entry(n: u64, context: &str, primary: bool, verdict: Option<Verdict>) -> Comparison {
        serde_json::from_value(serde_json::json!({
            "dataset": "pubmedqa", "model": "smollm2", "n": n, "context": context,
            "metric": "token_f1", "primary": primary, "base_mean": 0.5, "ft_mean": 0.55,
            "diff": 0.05, "ci_low": -0.0123, "ci_high": 0.1, "ci_level": 0.95, "p": 0.2,
            "p_holm": 0.4, "m": 4, "p_wilcoxon": null, "mde": 0.1, "verdict": verdict,
            "seeds": [0, 1], "questions": 50, "seed_means": [0.5, 0.6], "seed_sd": 0.07,
            "judge_sd": null, "training_variance": "assessed"
        }))
        .unwrap()
    }

    #[test]
    fn primary_rows_aligned_main_context_first() {
        let file = ComparisonFile {
            config_hash: String::new(),
            alpha: 0.05,
            primary_source: Default::default(),
            trends: vec![],
            comparisons: vec![
                entry(50, "none", true, Some(Verdict::Inconclusive)),
                entry(100, "retrieved", true, Some(Verdict::Helps)),
                entry(100, "retrieved", false, None),
            ],
        };
        let t = table(&file);
        assert_eq!(t.len(), 3, "{t:#?}");
        assert!(
            t[0].starts_with("dataset   model      N  vs  context    metric    seeds    diff"),
            "{t:#?}"
        );
        assert!(t[0].contains("95 % CI (unadjusted)") && t[0].ends_with("m  verdict"));
        assert!(
            t[1].contains(
                "100   0  retrieved  token_f1      2  +0.050  [-0.012, +0.100]      0.200   0.400  4  helps"
            ),
            "{t:#?}"
        );
        assert!(t[2].contains(" 50   0  none") && t[2].ends_with("inconclusive"));
        // Two seeds: one warning line.
        let w = few_seeds_warning(&file).unwrap_or_default();
        assert!(
            w.starts_with("warning: 2 of 2 primary") && !w.contains('\n'),
            "{w}"
        );
    }

    #[test]
    fn primary_trends_get_their_own_table() {
        let trend = |primary: bool| -> finefail_score::Trend {
            serde_json::from_value(serde_json::json!({
                "dataset": "pubmedqa", "model": "smollm2", "context": "retrieved",
                "metric": "label_accuracy", "primary": primary, "sizes": [50, 100, 200],
                "seeds": [0, 1, 2], "questions": 50, "slope_per_doubling": -0.031,
                "ci_low": -0.05, "ci_high": -0.01, "ci_level": 0.95, "p": 0.004,
                "p_holm": 0.004, "m": 1, "verdict": "hurts", "test": "pivot seeds×questions",
                "training_variance": "assessed"
            }))
            .unwrap()
        };
        let file = ComparisonFile {
            config_hash: String::new(),
            alpha: 0.05,
            primary_source: Default::default(),
            trends: vec![trend(true), trend(false)],
            comparisons: vec![],
        };
        let t = trend_table(&file);
        assert_eq!(t.len(), 2, "{t:#?}");
        assert!(
            t[0].contains("per doubling") && t[0].ends_with("m  verdict"),
            "{t:#?}"
        );
        assert!(
            t[1].contains("50,100,200  retrieved  label_accuracy      3        -0.031"),
            "{t:#?}"
        );
        assert!(t[1].ends_with("1  hurts"), "{t:#?}");
    }

    #[test]
    fn one_seed_verdicts_say_so_and_three_seeds_need_no_warning() {
        let mut one = entry(50, "retrieved", true, Some(Verdict::HelpsOneAdapter));
        one.seeds = vec![0];
        let mut three = entry(100, "retrieved", true, Some(Verdict::Hurts));
        three.seeds = vec![0, 1, 2];
        let file = ComparisonFile {
            config_hash: String::new(),
            alpha: 0.05,
            primary_source: Default::default(),
            trends: vec![],
            comparisons: vec![one, three.clone()],
        };
        let t = table(&file);
        assert!(t[1].ends_with("helps (one adapter)"), "{t:#?}");
        assert!(t[2].ends_with("hurts"), "{t:#?}");
        assert!(few_seeds_warning(&file).is_some_and(|w| w.contains("(1 on one, 0 on two)")));
        let file = ComparisonFile {
            comparisons: vec![three],
            ..file
        };
        assert_eq!(few_seeds_warning(&file), None);
    }
}
