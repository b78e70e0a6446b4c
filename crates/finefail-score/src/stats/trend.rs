//! The trend across N (`trends[]` in `comparison.json`): per dataset, model, context and metric,
//! the least-squares slope of the metric on log₂ N over the fine-tuned sizes (N > 0; the base arm
//! is not in it), stated per doubling of N, with a CI and p from the same seed-aware machinery as
//! the comparisons.
//!
//! The slope of per-size means on `x_k = log₂ N_k` is a contrast `Σ_k c_k · mean_k` with
//! `c_k = (x_k − x̄) / Σ_j (x_j − x̄)²`. Applied per (seed, question) to the seeds × questions
//! tables of every size (seeds paired by id over the seeds every size ran), it gives one table
//! `t[s][i] = Σ_k c_k · score_k[s][i]` whose grand mean is the slope; that table goes through
//! [`super::inference::infer`] as a table of differences does (the pivot with several seeds, the
//! sign-flip test and question bootstrap with one). With two sizes the slope is the `vs_previous`
//! difference divided by log₂(N₂/N₁).

use serde::{Deserialize, Serialize};

use super::compare::{
    QuestionScores, StatsConfig, Verdict, TRAINING_VARIANCE_ASSESSED,
    TRAINING_VARIANCE_NOT_ASSESSED,
};
use super::describe::mean;
use super::inference::{infer, snap, TEST_PIVOT};
use crate::{Metric, ScoreError};
use finefail_core::AnswerContext;

/// One entry of `trends[]` (keys documented in docs/metrics.md, "The trend across N").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trend {
    /// Dataset name.
    pub dataset: String,
    /// Model name.
    pub model: String,
    /// What the arms answered from.
    pub context: AnswerContext,
    /// The metric.
    pub metric: Metric,
    /// The training format of the sizes, in a study with several formats (one trend per
    /// format); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Primary metric (Holm-adjusted, with a verdict) or exploratory.
    pub primary: bool,
    /// The fine-tuned sizes the slope is fitted over, ascending.
    pub sizes: Vec<u64>,
    /// The training seeds every size ran (paired by id).
    pub seeds: Vec<u64>,
    /// Questions scored in every size and seed.
    pub questions: usize,
    /// Least-squares slope of the metric on log₂ N: the change per doubling of N.
    pub slope_per_doubling: f64,
    /// CI of the slope at `ci_level`, lower end.
    pub ci_low: Option<f64>,
    /// CI of the slope at `ci_level`, upper end.
    pub ci_high: Option<f64>,
    /// `1 − stats.alpha`.
    pub ci_level: f64,
    /// Two-sided p of "slope = 0" (seed variance carried with several seeds).
    pub p: f64,
    /// Holm-adjusted p within the trends' family; `None` for secondary metrics.
    pub p_holm: Option<f64>,
    /// The size of that family; `None` for secondary metrics.
    pub m: Option<usize>,
    /// `helps` (the metric rises with N) / `hurts` (falls) / `inconclusive`; one seed:
    /// `helps (one adapter)` / `hurts (one adapter)`; `None` for secondary metrics.
    pub verdict: Option<Verdict>,
    /// The test, as in the comparisons (`pivot seeds×questions`, `sign-flip exact`, …).
    pub test: String,
    /// `assessed` with several paired seeds, else `not assessed`.
    pub training_variance: String,
}

/// What [`trend`] needs: one dataset, model, context and metric, every fine-tuned size with its
/// seeds' scores.
#[derive(Debug, Clone, Copy)]
pub struct TrendInput<'a> {
    /// Dataset name.
    pub dataset: &'a str,
    /// Model name.
    pub model: &'a str,
    /// What the arms answered from.
    pub context: AnswerContext,
    /// The metric.
    pub metric: Metric,
    /// Whether the metric is primary.
    pub primary: bool,
    /// Every fine-tuned size (N > 0) with one entry per training seed.
    pub sizes: &'a [(u64, Vec<(u64, QuestionScores)>)],
}

/// The trend of one metric across the fine-tuned sizes: `None` for a descriptive metric, with
/// fewer than two sizes, or when no seed ran at every size; bad input when no question is scored
/// in every paired arm.
/// Holm and the verdict come from [`apply_trend_holm`](super::family::apply_trend_holm).
pub fn trend(input: &TrendInput<'_>, cfg: &StatsConfig) -> Result<Option<Trend>, ScoreError> {
    if input.metric.is_descriptive() {
        return Ok(None);
    }
    let mut sizes: Vec<&(u64, Vec<(u64, QuestionScores)>)> =
        input.sizes.iter().filter(|(n, _)| *n > 0).collect();
    sizes.sort_by_key(|(n, _)| *n);
    sizes.dedup_by_key(|(n, _)| *n);
    if sizes.len() < 2 {
        return Ok(None);
    }
    let seeds: Vec<u64> = sizes[0]
        .1
        .iter()
        .map(|(s, _)| *s)
        .filter(|s| {
            sizes
                .iter()
                .all(|(_, arms)| arms.iter().any(|(x, _)| x == s))
        })
        .collect();
    if seeds.is_empty() {
        return Ok(None);
    }
    // arms[k][j]: size k, paired seed j.
    let arms: Vec<Vec<&QuestionScores>> = sizes
        .iter()
        .map(|(_, per_seed)| {
            seeds
                .iter()
                .filter_map(|s| per_seed.iter().find(|(x, _)| x == s).map(|(_, q)| q))
                .collect()
        })
        .collect();
    let paired: Vec<&String> = arms[0][0]
        .keys()
        .filter(|q| {
            arms.iter()
                .flatten()
                .all(|a| a.get(*q).is_some_and(|v| !v.is_empty()))
        })
        .collect();
    if paired.is_empty() {
        return Err(ScoreError::BadInput(format!(
            "{} × {} ({} context) {}: no question is scored in every size and seed",
            input.dataset, input.model, input.context, input.metric
        )));
    }
    let x: Vec<f64> = sizes.iter().map(|(n, _)| (*n as f64).log2()).collect();
    let xbar = x.iter().sum::<f64>() / x.len() as f64;
    let sxx: f64 = x.iter().map(|v| (v - xbar).powi(2)).sum();
    let c: Vec<f64> = x.iter().map(|v| (v - xbar) / sxx).collect();
    let avg = |v: &Vec<f64>| mean(v).unwrap_or(0.0);
    let table: Vec<Vec<f64>> = (0..seeds.len())
        .map(|j| {
            paired
                .iter()
                .map(|q| snap((0..sizes.len()).map(|k| c[k] * avg(&arms[k][j][*q])).sum()))
                .collect()
        })
        .collect();
    let per_question: Vec<f64> = (0..paired.len())
        .map(|i| snap(table.iter().map(|row| row[i]).sum::<f64>() / seeds.len() as f64))
        .collect();
    let level = 1.0 - cfg.alpha;
    let inference = infer(&per_question, &table, cfg.bootstrap, cfg.seed, level);
    Ok(Some(Trend {
        dataset: input.dataset.to_owned(),
        model: input.model.to_owned(),
        context: input.context,
        metric: input.metric,
        format: None,
        primary: input.primary,
        sizes: sizes.iter().map(|(n, _)| *n).collect(),
        seeds,
        questions: paired.len(),
        slope_per_doubling: mean(&per_question).unwrap_or(0.0),
        ci_low: inference.ci.map(|c| c.0),
        ci_high: inference.ci.map(|c| c.1),
        ci_level: level,
        p: inference.p,
        p_holm: None,
        m: None,
        verdict: None,
        test: inference.test.to_owned(),
        training_variance: if inference.test == TEST_PIVOT {
            TRAINING_VARIANCE_ASSESSED
        } else {
            TRAINING_VARIANCE_NOT_ASSESSED
        }
        .to_owned(),
    }))
}
