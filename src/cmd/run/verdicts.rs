//! The end of `finefail run`: the primary comparisons' verdicts as an aligned table on stdout and
//! where the report is, so the answer to "did fine-tuning help?" is on the screen without opening
//! a file. Numbers are formatted as the report formats them.

use finefail_core::{files, RunLayout};
use finefail_report::format::{ci_header, interval, p_value_at, signed};
use finefail_score::{read_comparison, ComparisonFile, Verdict};
use std::path::Path;

fn verdict_word(v: Option<Verdict>) -> &'static str {
    match v {
        Some(Verdict::Helps) => "helps",
        Some(Verdict::Hurts) => "hurts",
        Some(Verdict::Inconclusive) => "inconclusive",
        None => "—",
    }
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
        "context",
        "metric",
        "diff",
        &ci_header(level),
        "p_holm",
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
                c.n.to_string(),
                c.context.to_string(),
                c.metric.to_string(),
                signed(c.diff),
                interval(c.ci_low, c.ci_high),
                p_value_at(c.p_holm, file.alpha),
                verdict_word(c.verdict).to_string(),
            ]
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    // Numbers right-aligned (N, diff, p_holm), text left-aligned.
    let right = [false, false, true, false, false, true, false, true, false];
    let line = |cells: &[String]| {
        let parts: Vec<String> = cells
            .iter()
            .zip(&widths)
            .zip(right)
            .map(|((c, &w), r)| {
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
    std::iter::once(line(&header))
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
            "\nverdicts (primary metrics; helps/hurts need p_holm < α = {} and a CI on one side of 0):",
            file.alpha
        );
        for l in lines {
            println!("  {l}");
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
            "p_holm": 0.4, "p_wilcoxon": null, "mde": 0.1, "verdict": verdict,
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
            comparisons: vec![
                entry(50, "none", true, Some(Verdict::Inconclusive)),
                entry(100, "retrieved", true, Some(Verdict::Helps)),
                entry(100, "retrieved", false, None),
            ],
        };
        let t = table(&file);
        assert_eq!(t.len(), 3, "{t:#?}");
        assert!(
            t[0].starts_with("dataset   model      N  context    metric      diff"),
            "{t:#?}"
        );
        assert!(t[0].contains("95 % CI") && t[0].ends_with("verdict"));
        assert!(
            t[1].contains("100  retrieved  token_f1  +0.050  [-0.012, +0.100]   0.400  helps"),
            "{t:#?}"
        );
        assert!(t[2].contains(" 50  none") && t[2].ends_with("inconclusive"));
    }
}
