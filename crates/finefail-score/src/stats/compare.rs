//! One comparison entry of `comparison.json`: a fine-tuned arm (all its seeds) against the base arm
//! on the same questions, for one metric.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::bootstrap::bootstrap_ci;
use super::describe::{mde, mean, sample_sd};
use super::holm::holm;
use super::mcnemar::{discordant, mcnemar_exact_p};
use super::wilcoxon::wilcoxon_p;
use crate::{Metric, ScoreError};

/// Per-question scores of one arm for one metric: question id → its values (one per judge repeat;
/// one for a deterministic metric). Error rows are left out before building this.
pub type QuestionScores = BTreeMap<String, Vec<f64>>;

/// Fewest bootstrap resamples accepted (DESIGN.md: ≥ 10,000).
pub const MIN_BOOTSTRAP: usize = 10_000;

/// The `[stats]` settings the statistics need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsConfig {
    /// Bootstrap resamples (DESIGN: ≥ 10,000; default 10,000).
    pub bootstrap: usize,
    /// Significance level for the verdict (default 0.05).
    pub alpha: f64,
    /// Bootstrap seed (`stats.seed`, default 0). Every comparison uses it, so comparisons with the
    /// same question count share resamples (common random numbers).
    pub seed: u64,
    /// Primary metrics chosen by the config; `None` applies DESIGN's rule ([`default_primary`]).
    pub primary: Option<Vec<Metric>>,
}

impl Default for StatsConfig {
    fn default() -> Self {
        StatsConfig {
            bootstrap: 10_000,
            alpha: 0.05,
            seed: 0,
            primary: None,
        }
    }
}

/// `helps` / `hurts` / `inconclusive`: the one-word answer the report leads with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Holm-adjusted p < alpha and the CI lies above 0.
    Helps,
    /// Holm-adjusted p < alpha and the CI lies below 0.
    Hurts,
    /// Anything else.
    Inconclusive,
}

/// One entry of `comparison.json` (keys pinned by DESIGN.md "Contract details").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// Dataset name.
    pub dataset: String,
    /// Model name.
    pub model: String,
    /// Training size N (> 0).
    pub n: u64,
    /// `retrieved`, `none` or `gold`.
    pub context: String,
    /// The metric compared.
    pub metric: Metric,
    /// Part of the Holm family (primary) or exploratory (secondary).
    pub primary: bool,
    /// Base arm mean over the paired questions.
    pub base_mean: f64,
    /// Fine-tuned mean (per question: mean over seeds and judge repeats) over the paired questions.
    pub ft_mean: f64,
    /// `ft_mean − base_mean` (the mean per-question difference).
    pub diff: f64,
    /// Bootstrap 95 % CI of `diff`, lower end.
    pub ci_low: Option<f64>,
    /// Bootstrap 95 % CI of `diff`, upper end.
    pub ci_high: Option<f64>,
    /// Two-sided p (Wilcoxon, or McNemar for a binary metric with one seed); `None` for descriptive
    /// metrics.
    pub p: Option<f64>,
    /// Holm-adjusted p over the run's primary entries; `None` for secondary entries.
    pub p_holm: Option<f64>,
    /// Minimum detectable effect at 80 % power, `2.8·sd(diff)/√questions`.
    pub mde: Option<f64>,
    /// Primary entries only.
    pub verdict: Option<Verdict>,
    /// Training seeds of the fine-tuned arm.
    pub seeds: Vec<u64>,
    /// Paired questions (scored in the base arm and in every seed).
    pub questions: usize,
    /// Per seed, the mean over the paired questions (training variance), in `seeds` order.
    pub seed_means: Vec<f64>,
    /// Sample sd of `seed_means`; `None` with one seed.
    pub seed_sd: Option<f64>,
    /// Judge spread: √(mean over answers of the sample variance across repeats); judge metrics with
    /// ≥ 2 repeats only.
    pub judge_sd: Option<f64>,
}

/// Everything [`compare`] needs for one entry.
#[derive(Debug, Clone, Copy)]
pub struct ComparisonInput<'a> {
    /// Dataset name.
    pub dataset: &'a str,
    /// Model name.
    pub model: &'a str,
    /// Training size N.
    pub n: u64,
    /// Context kind (`retrieved` / `none` / `gold`).
    pub context: &'a str,
    /// The metric.
    pub metric: Metric,
    /// Whether the metric is primary for this dataset.
    pub primary: bool,
    /// The base arm's scores.
    pub base: &'a QuestionScores,
    /// The fine-tuned arm's scores, one entry per training seed.
    pub seeds: &'a [(u64, QuestionScores)],
}

/// DESIGN's primary metrics: the judge's `accuracy` and `completeness` when a judge ran; else
/// `label_accuracy` for a label dataset; else `token_f1` and `answer_recall`.
pub fn default_primary(judge_ran: bool, label_dataset: bool) -> Vec<Metric> {
    if judge_ran {
        vec![Metric::Accuracy, Metric::Completeness]
    } else if label_dataset {
        vec![Metric::LabelAccuracy]
    } else {
        vec![Metric::TokenF1, Metric::AnswerRecall]
    }
}

/// Compares one fine-tuned arm with the base arm for one metric (Holm and verdicts come later, from
/// [`apply_holm`], once every primary entry of the run exists).
///
/// Questions are paired when the base arm and every seed have at least one value for them. An
/// all-zero difference vector has no Wilcoxon statistic; its p is reported as 1 (no evidence of a
/// difference). Errors (bad input) when no question is paired, no seed is given, fewer than
/// [`MIN_BOOTSTRAP`] resamples are asked for, or alpha is outside (0, 1).
pub fn compare(input: &ComparisonInput<'_>, cfg: &StatsConfig) -> Result<Comparison, ScoreError> {
    let what = format!(
        "{}/{}/n{} ({}) {}",
        input.dataset, input.model, input.n, input.context, input.metric
    );
    if cfg.bootstrap < MIN_BOOTSTRAP {
        return Err(ScoreError::BadInput(format!(
            "stats.bootstrap = {} but at least {MIN_BOOTSTRAP} resamples are required",
            cfg.bootstrap
        )));
    }
    if !(cfg.alpha > 0.0 && cfg.alpha < 1.0) {
        return Err(ScoreError::BadInput(format!(
            "stats.alpha = {} must lie strictly between 0 and 1",
            cfg.alpha
        )));
    }
    if input.seeds.is_empty() {
        return Err(ScoreError::BadInput(format!(
            "{what}: no fine-tuned seed to compare"
        )));
    }
    let paired: Vec<&String> = input
        .base
        .iter()
        .filter(|(q, v)| {
            !v.is_empty()
                && input
                    .seeds
                    .iter()
                    .all(|(_, s)| s.get(*q).is_some_and(|v| !v.is_empty()))
        })
        .map(|(q, _)| q)
        .collect();
    if paired.is_empty() {
        return Err(ScoreError::BadInput(format!(
            "{what}: no question is scored in both the base arm and every seed"
        )));
    }
    let avg = |v: &Vec<f64>| mean(v).unwrap_or(0.0);
    let base: Vec<f64> = paired.iter().map(|q| avg(&input.base[*q])).collect();
    let per_seed: Vec<Vec<f64>> = input
        .seeds
        .iter()
        .map(|(_, s)| paired.iter().map(|q| avg(&s[*q])).collect())
        .collect();
    let ft: Vec<f64> = (0..paired.len())
        .map(|i| per_seed.iter().map(|s| s[i]).sum::<f64>() / per_seed.len() as f64)
        .collect();
    let diffs: Vec<f64> = ft.iter().zip(&base).map(|(f, b)| f - b).collect();

    let base_mean = mean(&base).unwrap_or(0.0);
    let ft_mean = mean(&ft).unwrap_or(0.0);
    let ci = bootstrap_ci(&diffs, cfg.bootstrap, cfg.seed, 0.95);
    let p = if input.metric.is_descriptive() {
        None
    } else {
        Some(p_value(input, &base, &per_seed, &diffs))
    };
    let seed_means: Vec<f64> = per_seed.iter().map(|s| mean(s).unwrap_or(0.0)).collect();
    Ok(Comparison {
        dataset: input.dataset.to_owned(),
        model: input.model.to_owned(),
        n: input.n,
        context: input.context.to_owned(),
        metric: input.metric,
        primary: input.primary && !input.metric.is_descriptive(),
        base_mean,
        ft_mean,
        diff: mean(&diffs).unwrap_or(0.0),
        ci_low: ci.map(|c| c.0),
        ci_high: ci.map(|c| c.1),
        p,
        p_holm: None,
        mde: mde(&diffs),
        verdict: None,
        seeds: input.seeds.iter().map(|(s, _)| *s).collect(),
        questions: paired.len(),
        seed_sd: sample_sd(&seed_means),
        seed_means,
        judge_sd: judge_sd(input, &paired),
    })
}

/// McNemar for a binary metric with one seed and 0/1 values on both sides; Wilcoxon otherwise.
fn p_value(input: &ComparisonInput<'_>, base: &[f64], per_seed: &[Vec<f64>], diffs: &[f64]) -> f64 {
    let is01 = |v: &[f64]| v.iter().all(|x| *x == 0.0 || *x == 1.0);
    if input.metric.is_binary() && per_seed.len() == 1 && is01(base) && is01(&per_seed[0]) {
        let (b, c) = discordant(base, &per_seed[0]);
        mcnemar_exact_p(b, c)
    } else {
        wilcoxon_p(diffs).unwrap_or(1.0)
    }
}

/// √(mean sample variance across repeats) over every paired answer with ≥ 2 repeats.
fn judge_sd(input: &ComparisonInput<'_>, paired: &[&String]) -> Option<f64> {
    if !input.metric.is_judge() {
        return None;
    }
    let arms = std::iter::once(input.base).chain(input.seeds.iter().map(|(_, s)| s));
    let vars: Vec<f64> = arms
        .flat_map(|arm| paired.iter().filter_map(move |q| arm.get(*q)))
        .filter_map(|v| sample_sd(v).map(|sd| sd * sd))
        .collect();
    mean(&vars).map(f64::sqrt)
}

/// Holm-adjusts the p of every primary entry together and sets their verdicts; secondary entries
/// keep `p_holm` and `verdict` null.
pub fn apply_holm(comparisons: &mut [Comparison], alpha: f64) {
    let idx: Vec<usize> = comparisons
        .iter()
        .enumerate()
        .filter(|(_, c)| c.primary && c.p.is_some())
        .map(|(i, _)| i)
        .collect();
    let ps: Vec<f64> = idx.iter().filter_map(|&i| comparisons[i].p).collect();
    for (&i, adj) in idx.iter().zip(holm(&ps)) {
        let c = &mut comparisons[i];
        c.p_holm = Some(adj);
        c.verdict = Some(verdict(adj, c.ci_low, c.ci_high, alpha));
    }
}

/// `helps`/`hurts` when the adjusted p is below alpha and the CI excludes 0 on that side.
pub fn verdict(p_holm: f64, ci_low: Option<f64>, ci_high: Option<f64>, alpha: f64) -> Verdict {
    match (p_holm < alpha, ci_low, ci_high) {
        (true, Some(lo), _) if lo > 0.0 => Verdict::Helps,
        (true, _, Some(hi)) if hi < 0.0 => Verdict::Hurts,
        _ => Verdict::Inconclusive,
    }
}
