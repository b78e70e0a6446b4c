//! One comparison entry of `comparison.json`: a fine-tuned arm (all its seeds) against the base arm
//! on the same questions, for one metric.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::describe::{mean, sample_sd};
use super::inference::{infer, snap, TEST_PIVOT};
use super::mcnemar::{discordant, mcnemar_exact_p};
use super::wilcoxon::wilcoxon_p;
use crate::{Metric, ScoreError};
use finefail_core::AnswerContext;

/// Per-question scores of one arm for one metric: question id → its values (one per judge repeat;
/// one for a deterministic metric). Error rows are left out before building this.
pub type QuestionScores = BTreeMap<String, Vec<f64>>;

/// Fewest bootstrap resamples accepted (docs/metrics.md: ≥ 10,000).
pub const MIN_BOOTSTRAP: usize = 10_000;

/// The `[stats]` settings the statistics need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsConfig {
    /// Bootstrap resamples (at least [`MIN_BOOTSTRAP`]; default 10,000).
    pub bootstrap: usize,
    /// Significance level for the verdict; the CI level is `1 − alpha` (default 0.05).
    pub alpha: f64,
    /// Bootstrap seed (`stats.seed`, default 0). Every comparison uses it, so comparisons with the
    /// same question count share resamples (common random numbers).
    pub seed: u64,
    /// Primary metrics chosen by the config; `None` applies the default rule ([`default_primary`]).
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
    /// Holm-adjusted p < alpha, the CI above 0 and the estimate positive.
    Helps,
    /// Holm-adjusted p < alpha, the CI below 0 and the estimate negative.
    Hurts,
    /// Anything else.
    Inconclusive,
}

/// Whether a comparison's uncertainty includes the training seeds (`training_variance`).
pub const TRAINING_VARIANCE_ASSESSED: &str = "assessed";
/// With one seed the verdict speaks about that one adapter, not about fine-tuning at N.
pub const TRAINING_VARIANCE_NOT_ASSESSED: &str = "not assessed";

/// One entry of `comparison.json` (keys documented in docs/metrics.md, "Comparisons").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// Dataset name.
    pub dataset: String,
    /// Model name.
    pub model: String,
    /// Training size N (> 0).
    pub n: u64,
    /// What the arms answered from (`retrieved`, `none` or `gold` in the file).
    pub context: AnswerContext,
    /// The metric compared.
    pub metric: Metric,
    /// Part of a Holm family (primary) or exploratory (secondary).
    pub primary: bool,
    /// Base arm mean over the paired questions.
    pub base_mean: f64,
    /// Fine-tuned mean (per question: mean over seeds and judge repeats) over the paired questions.
    pub ft_mean: f64,
    /// `ft_mean − base_mean` (the mean per-question difference).
    pub diff: f64,
    /// CI of `diff` at level `ci_level`, lower end.
    pub ci_low: Option<f64>,
    /// CI of `diff` at level `ci_level`, upper end.
    pub ci_high: Option<f64>,
    /// The CI's level, `1 − stats.alpha`.
    #[serde(default)]
    pub ci_level: f64,
    /// Two-sided p of "mean difference = 0" with the seed variance carried (see `test`); `None`
    /// for descriptive metrics.
    pub p: Option<f64>,
    /// Holm-adjusted p within the entry's family; `None` for secondary entries.
    pub p_holm: Option<f64>,
    /// Wilcoxon signed-rank p on the per-question differences (scipy's definition): an extra
    /// column about a shift of the whole distribution, never the verdict's test.
    #[serde(default)]
    pub p_wilcoxon: Option<f64>,
    /// Exact McNemar p for a 0/1 metric with one seed: an extra column.
    #[serde(default)]
    pub p_mcnemar: Option<f64>,
    /// The verdict's test and CI: `sign-flip exact` / `sign-flip monte-carlo` (one seed; CI from
    /// the question bootstrap) or `pivot seeds×questions` (several seeds).
    #[serde(default)]
    pub test: String,
    /// Standard error of `diff` (seeds and questions as sources when several seeds ran).
    #[serde(default)]
    pub se: Option<f64>,
    /// Degrees of freedom of `se` (Satterthwaite with several seeds, n − 1 with one).
    #[serde(default)]
    pub df: Option<f64>,
    /// Minimum detectable effect at 80 % power and the family's first Holm level α/m.
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
    /// [`TRAINING_VARIANCE_ASSESSED`] with ≥ 2 seeds, else [`TRAINING_VARIANCE_NOT_ASSESSED`].
    #[serde(default)]
    pub training_variance: String,
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
    /// What the arms answered from.
    pub context: AnswerContext,
    /// The metric.
    pub metric: Metric,
    /// Whether the metric is primary for this dataset.
    pub primary: bool,
    /// The base arm's scores.
    pub base: &'a QuestionScores,
    /// The fine-tuned arm's scores, one entry per training seed.
    pub seeds: &'a [(u64, QuestionScores)],
}

/// The default primary metrics (docs/metrics.md): the judge's `accuracy` and `completeness` when a judge ran; else
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

/// Compares one fine-tuned arm with the base arm for one metric (Holm, verdicts and the MDE come
/// later, from [`super::family::apply_holm`], once every primary entry of the run exists).
///
/// Questions are paired when the base arm and every seed have at least one value for them. The
/// verdict's p tests the mean difference: with one seed the sign-flip permutation test and a
/// question bootstrap CI, with several the seeds × questions pivot for both (see
/// [`super::pivot`]). An all-zero difference vector gives p = 1 (no evidence of a difference). Errors (bad input) when no question is paired, no seed is given, fewer than
/// [`MIN_BOOTSTRAP`] resamples are asked for, or alpha is outside (0, 1).
pub fn compare(input: &ComparisonInput<'_>, cfg: &StatsConfig) -> Result<Comparison, ScoreError> {
    let what = format!(
        "{} × {} at N = {} ({} context) {}",
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
    let seed_diffs: Vec<Vec<f64>> = per_seed
        .iter()
        .map(|s| s.iter().zip(&base).map(|(f, b)| snap(f - b)).collect())
        .collect();
    let diffs: Vec<f64> = ft.iter().zip(&base).map(|(f, b)| snap(f - b)).collect();

    let level = 1.0 - cfg.alpha;
    let inference = infer(&diffs, &seed_diffs, cfg.bootstrap, cfg.seed, level);
    let tested = !input.metric.is_descriptive();
    let is01 = |v: &[f64]| v.iter().all(|x| *x == 0.0 || *x == 1.0);
    let p_mcnemar = (tested
        && input.metric.is_binary()
        && per_seed.len() == 1
        && is01(&base)
        && is01(&per_seed[0]))
    .then(|| {
        let (b, c) = discordant(&base, &per_seed[0]);
        mcnemar_exact_p(b, c)
    });
    let seed_means: Vec<f64> = per_seed.iter().map(|s| mean(s).unwrap_or(0.0)).collect();
    let several_seeds = inference.test == TEST_PIVOT;
    Ok(Comparison {
        dataset: input.dataset.to_owned(),
        model: input.model.to_owned(),
        n: input.n,
        context: input.context,
        metric: input.metric,
        primary: input.primary && tested,
        base_mean: mean(&base).unwrap_or(0.0),
        ft_mean: mean(&ft).unwrap_or(0.0),
        diff: mean(&diffs).unwrap_or(0.0),
        ci_low: inference.ci.map(|c| c.0),
        ci_high: inference.ci.map(|c| c.1),
        ci_level: level,
        p: tested.then_some(inference.p),
        p_holm: None,
        p_wilcoxon: tested.then(|| wilcoxon_p(&diffs).unwrap_or(1.0)),
        p_mcnemar,
        test: inference.test.to_owned(),
        se: inference.se,
        df: inference.df,
        mde: None,
        verdict: None,
        seeds: input.seeds.iter().map(|(s, _)| *s).collect(),
        questions: paired.len(),
        seed_sd: sample_sd(&seed_means),
        seed_means,
        judge_sd: judge_sd(input, &paired),
        training_variance: if several_seeds {
            TRAINING_VARIANCE_ASSESSED
        } else {
            TRAINING_VARIANCE_NOT_ASSESSED
        }
        .to_owned(),
    })
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
