//! `--plan`'s power section: what the configured design can detect, per dataset and primary
//! metric, and what `stats.target_mde` needs (docs/metrics.md, "Planning the power").

use finefail_runner::power_plan::{
    metric_range, power_plan, PowerLine, MAX_PLANNED_QUESTIONS, MAX_PLANNED_SEEDS,
};
use finefail_runner::Config;
use std::path::Path;

/// Prints the power plan; a pilot folder without a readable `comparison.json` is bad input.
pub fn print(config: &Config, pilot: Option<&Path>) -> anyhow::Result<()> {
    let lines = power_plan(config, pilot)?;
    if lines.is_empty() {
        return Ok(());
    }
    println!(
        "  power (80 %, the verdict's own test at α/m, α = {})",
        config.stats.alpha
    );
    for l in &lines {
        println!("    {}", describe(l));
        if let Some(a) = l.advice {
            let seeds = a
                .seeds
                .map_or(format!("more than {MAX_PLANNED_SEEDS} seeds"), |s| {
                    format!("{s} seeds")
                });
            let questions = a.questions.map_or(
                if l.design.seeds >= 2 {
                    format!(
                        "no number of questions (up to {MAX_PLANNED_QUESTIONS}) at {} seeds: the seeds' spread sets a floor",
                        l.design.seeds
                    )
                } else {
                    format!("more than {MAX_PLANNED_QUESTIONS} questions")
                },
                |n| format!("{n} test questions at {} seeds", l.design.seeds),
            );
            println!(
                "      target_mde {}: {seeds} at {} questions, or {questions}",
                a.target, l.design.questions
            );
        }
    }
    let seeds = config.sweep.seeds.len();
    if seeds < 3 {
        // The weakest line's power at ±0.10 on a [0, 1] scale (±0.40 on a judge's 1–5).
        let weakest = lines
            .iter()
            .filter_map(|l| l.power_at.get(1).copied())
            .min_by(|a, b| a.1.total_cmp(&b.1));
        let what = if seeds <= 1 {
            "one seed: verdicts speak about one adapter, not about fine-tuning at N"
        } else {
            "two seeds: the seed spread is estimated from one degree of freedom"
        };
        let power = weakest.map_or(String::new(), |(e, p)| {
            format!("; power to find a true ±{e:.2} is as low as {p:.2}")
        });
        eprintln!(
            "warning: {what}{power} — plan 3 or more seeds (docs/metrics.md, \"Planning the power\")"
        );
    }
    Ok(())
}

/// `pubmedqa label_accuracy: 2 seeds × 50 questions, m = 3 → detects ±0.231 (power at ±0.05
/// 0.11, ±0.10 0.32, ±0.20 0.71); default components …`.
fn describe(l: &PowerLine) -> String {
    let d = &l.design;
    let range = metric_range(l.metric);
    let mde = match l.mde {
        Some(m) if m <= range => format!("detects ±{m:.3}"),
        Some(_) => format!("detects nothing within the metric's range (±{range}) with 80 % power"),
        None => "no estimate (no variance)".to_owned(),
    };
    let power: Vec<String> = l
        .power_at
        .iter()
        .map(|(e, p)| format!("±{e:.2} {p:.2}"))
        .collect();
    format!(
        "{} {}: {} seed{} × {} questions, m = {} → {mde} (power at {}); {} (σ seed {:.3}, question {:.3}, residual {:.3})",
        l.dataset,
        l.metric,
        d.seeds,
        if d.seeds == 1 { "" } else { "s" },
        d.questions,
        d.family,
        power.join(", "),
        l.source,
        l.components.seed_sd,
        l.components.question_sd,
        l.components.residual_sd
    )
}
