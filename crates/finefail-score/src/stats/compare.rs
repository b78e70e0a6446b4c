//! One comparison entry of `comparison.json`: a fine-tuned arm (all its seeds) against the base arm
//! on the same questions, for one metric.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::components::VarianceComponents;
use super::describe::{mean, sample_sd};
use super::family::HolmFamily;
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
    /// Which primary comparisons share a Holm family (`stats.family`; default one per dataset,
    /// model and context).
    #[serde(default)]
    pub family: HolmFamily,
}

impl Default for StatsConfig {
    fn default() -> Self {
        StatsConfig {
            bootstrap: 10_000,
            alpha: 0.05,
            seed: 0,
            primary: None,
            family: HolmFamily::default(),
        }
    }
}

/// `helps` / `hurts` / `inconclusive`: the one-word answer the report leads with. With one
/// training seed the uncertainty of "fine-tuning at N" is not assessed, so a significant entry
/// says so in its word: `helps (one adapter)` / `hurts (one adapter)` (`helps_one_adapter` /
/// `hurts_one_adapter` in `comparison.json`), never a plain `helps` / `hurts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Holm-adjusted p < alpha, the CI above 0 and the estimate positive (several seeds).
    Helps,
    /// Holm-adjusted p < alpha, the CI below 0 and the estimate negative (several seeds).
    Hurts,
    /// As [`Verdict::Helps`], from one training seed: it speaks about that adapter only.
    HelpsOneAdapter,
    /// As [`Verdict::Hurts`], from one training seed: it speaks about that adapter only.
    HurtsOneAdapter,
    /// Anything else.
    Inconclusive,
}

impl Verdict {
    /// The words tables print: `helps`, `hurts`, `helps (one adapter)`, `hurts (one adapter)`,
    /// `inconclusive`.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Helps => "helps",
            Verdict::Hurts => "hurts",
            Verdict::HelpsOneAdapter => "helps (one adapter)",
            Verdict::HurtsOneAdapter => "hurts (one adapter)",
            Verdict::Inconclusive => "inconclusive",
        }
    }

    /// The same call about one adapter: `helps` → `helps (one adapter)`, `hurts` likewise.
    pub fn one_adapter(self) -> Self {
        match self {
            Verdict::Helps => Verdict::HelpsOneAdapter,
            Verdict::Hurts => Verdict::HurtsOneAdapter,
            other => other,
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.word())
    }
}

/// What a comparison sets against what (`kind` in `comparison.json`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComparisonKind {
    /// Size N against the base model (N = 0); `reference_n` is 0.
    #[default]
    VsBase,
    /// Size N against the previous fine-tuned size (`reference_n`), seeds paired by seed.
    VsPrevious,
    /// The in-context arm `icl{K}` (`icl_shots`) against the base model (`n` 0: the in-context arm
    /// is the treated side), or size N against `icl{K}` (`n` > 0: the in-context arm is the
    /// reference), seeds paired by seed ([`super::alternatives`]).
    VsIcl,
    /// Size N trained in `format` against size N trained in `reference_format`, seeds paired by
    /// seed ([`super::alternatives`]).
    VsFormat,
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
    /// Training size N (> 0; 0 only for the in-context arm against the base, `vs_icl`).
    pub n: u64,
    /// `vs_base` (N against N = 0), `vs_previous` (N against the previous size), `vs_icl` or
    /// `vs_format`.
    #[serde(default)]
    pub kind: ComparisonKind,
    /// The training format of the N side, in a study with several formats (`sweep.formats`);
    /// absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// `vs_format`: the format the N side is set against (same N, seeds paired); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_format: Option<String>,
    /// `vs_icl`: K of the in-context arm `icl{K}`; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icl_shots: Option<u64>,
    /// The size N is compared with: 0 for `vs_base`, the previous size for `vs_previous`. The
    /// `base_*` fields describe that arm.
    #[serde(default)]
    pub reference_n: u64,
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
    /// The size of that Holm family (primary entries; `None` for secondary ones).
    #[serde(default)]
    pub m: Option<usize>,
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
    /// Minimum detectable effect at 80 % power and the family's first Holm level α/m: of the pivot
    /// itself with several seeds ([`super::pivot_power`], at the estimated `components`), of a t
    /// with `se` and `df` with one.
    pub mde: Option<f64>,
    /// The seeds × questions variance components of the differences (several seeds only; method of
    /// moments): what `mde` is computed from and what `finefail run --plan --pilot` reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub components: Option<VarianceComponents>,
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

/// Everything [`compare_sizes`] needs for one `vs_previous` entry: size `n` against the previous
/// fine-tuned size `reference_n` of the same dataset, model and context.
#[derive(Debug, Clone, Copy)]
pub struct SizesInput<'a> {
    /// Dataset name.
    pub dataset: &'a str,
    /// Model name.
    pub model: &'a str,
    /// The larger training size N.
    pub n: u64,
    /// The previous size N' (> 0) it is compared with.
    pub reference_n: u64,
    /// What the arms answered from.
    pub context: AnswerContext,
    /// The metric.
    pub metric: Metric,
    /// Whether the metric is primary for this dataset.
    pub primary: bool,
    /// The previous size's scores, one entry per training seed.
    pub reference: &'a [(u64, QuestionScores)],
    /// Size N's scores, one entry per training seed.
    pub seeds: &'a [(u64, QuestionScores)],
}

/// What the fine-tuned seeds are set against.
pub(super) enum Reference<'a> {
    /// The base arm: every seed's difference is taken against it.
    Base(&'a QuestionScores),
    /// One arm per fine-tuned seed (the same seed at the previous size), in the seeds' order.
    PerSeed(Vec<&'a QuestionScores>),
}

impl Reference<'_> {
    fn arms(&self) -> Vec<&QuestionScores> {
        match self {
            Reference::Base(b) => vec![*b],
            Reference::PerSeed(v) => v.clone(),
        }
    }
}

/// The identifying fields of an entry.
pub(super) struct Entry<'a> {
    pub(super) dataset: &'a str,
    pub(super) model: &'a str,
    pub(super) n: u64,
    pub(super) kind: ComparisonKind,
    pub(super) reference_n: u64,
    pub(super) context: AnswerContext,
    pub(super) metric: Metric,
    pub(super) primary: bool,
    /// The N side's training format (several formats only).
    pub(super) format: Option<&'a str>,
    /// `vs_format`'s other format.
    pub(super) reference_format: Option<&'a str>,
    /// `vs_icl`'s K.
    pub(super) icl_shots: Option<u64>,
}

impl Entry<'_> {
    /// What the entry compares, for error messages: `… at N = 50 vs N = 20`, `… icl4 vs N = 0`.
    fn describe(&self) -> String {
        let side = |format: Option<&str>, n: u64| match format {
            Some(f) => format!("{f} N = {n}"),
            None => format!("N = {n}"),
        };
        let k = self.icl_shots.unwrap_or(0);
        let (this, against) = match self.kind {
            ComparisonKind::VsBase => (side(self.format, self.n), String::new()),
            ComparisonKind::VsPrevious => (
                side(self.format, self.n),
                format!(" vs N = {}", self.reference_n),
            ),
            ComparisonKind::VsIcl if self.n == 0 => (format!("icl{k}"), " vs N = 0".into()),
            ComparisonKind::VsIcl => (side(self.format, self.n), format!(" vs icl{k}")),
            ComparisonKind::VsFormat => (
                side(self.format, self.n),
                format!(" vs {}", side(self.reference_format, self.n)),
            ),
        };
        format!(
            "{} × {} at {this}{against} ({} context) {}",
            self.dataset, self.model, self.context, self.metric
        )
    }
}

/// The pairs (reference seed arm, seed arm) of the seeds both sides ran, paired by seed id, in
/// `seeds` order.
pub(super) fn pair_by_seed<'a>(
    reference: &'a [(u64, QuestionScores)],
    seeds: &'a [(u64, QuestionScores)],
) -> (Vec<&'a QuestionScores>, Vec<(u64, &'a QuestionScores)>) {
    let mut refs = Vec::new();
    let mut paired = Vec::new();
    for (s, scores) in seeds {
        if let Some((_, r)) = reference.iter().find(|(rs, _)| rs == s) {
            refs.push(r);
            paired.push((*s, scores));
        }
    }
    (refs, paired)
}

fn check_config(cfg: &StatsConfig) -> Result<(), ScoreError> {
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
    Ok(())
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
    let entry = Entry {
        dataset: input.dataset,
        model: input.model,
        n: input.n,
        kind: ComparisonKind::VsBase,
        reference_n: 0,
        context: input.context,
        metric: input.metric,
        primary: input.primary,
        format: None,
        reference_format: None,
        icl_shots: None,
    };
    let seeds: Vec<(u64, &QuestionScores)> = input.seeds.iter().map(|(s, q)| (*s, q)).collect();
    compare_with(&entry, &Reference::Base(input.base), &seeds, cfg)
}

/// Compares size N with the previous size N' for one metric (`kind: "vs_previous"`), by the
/// same machinery as [`compare`]: seeds are paired by seed id over the seeds both sizes ran
/// (seed s at N against seed s at N': with nested training subsets they share the smaller
/// subset), questions over those answered by every paired arm, and the per-seed differences form
/// the seeds × questions table of the pivot (one common seed: sign-flip test, question bootstrap
/// CI). `base_mean` / `seed_means` are then the previous size's mean / size N's per-seed means.
/// Bad input when the two sizes share no seed, or as [`compare`].
pub fn compare_sizes(input: &SizesInput<'_>, cfg: &StatsConfig) -> Result<Comparison, ScoreError> {
    let (refs, seeds) = pair_by_seed(input.reference, input.seeds);
    let entry = Entry {
        dataset: input.dataset,
        model: input.model,
        n: input.n,
        kind: ComparisonKind::VsPrevious,
        reference_n: input.reference_n,
        context: input.context,
        metric: input.metric,
        primary: input.primary,
        format: None,
        reference_format: None,
        icl_shots: None,
    };
    compare_with(&entry, &Reference::PerSeed(refs), &seeds, cfg)
}

/// [`compare`] / [`compare_sizes`] with the entry's fields given: the one implementation every
/// kind of comparison goes through.
pub(super) fn compare_with(
    input: &Entry<'_>,
    reference: &Reference<'_>,
    seeds: &[(u64, &QuestionScores)],
    cfg: &StatsConfig,
) -> Result<Comparison, ScoreError> {
    let what = input.describe();
    let against = match reference {
        Reference::Base(_) => "",
        Reference::PerSeed(_) => " (the two arms share no training seed)",
    };
    check_config(cfg)?;
    if seeds.is_empty() {
        return Err(ScoreError::BadInput(format!(
            "{what}: no fine-tuned seed to compare{against}"
        )));
    }
    let ref_arms = reference.arms();
    let paired: Vec<&String> = ref_arms[0]
        .keys()
        .filter(|q| {
            ref_arms
                .iter()
                .chain(seeds.iter().map(|(_, s)| s))
                .all(|arm| arm.get(*q).is_some_and(|v| !v.is_empty()))
        })
        .collect();
    if paired.is_empty() {
        return Err(ScoreError::BadInput(format!(
            "{what}: no question is scored in both the {} and every seed",
            match (reference, input.kind) {
                (Reference::Base(_), _) => "base arm",
                (_, ComparisonKind::VsPrevious) => "previous size",
                _ => "reference arm",
            }
        )));
    }
    let avg = |v: &Vec<f64>| mean(v).unwrap_or(0.0);
    let ref_rows: Vec<Vec<f64>> = ref_arms
        .iter()
        .map(|arm| paired.iter().map(|q| avg(&arm[*q])).collect())
        .collect();
    let base: Vec<f64> = if ref_rows.len() == 1 {
        ref_rows[0].clone()
    } else {
        (0..paired.len())
            .map(|i| ref_rows.iter().map(|r| r[i]).sum::<f64>() / ref_rows.len() as f64)
            .collect()
    };
    let per_seed: Vec<Vec<f64>> = seeds
        .iter()
        .map(|(_, s)| paired.iter().map(|q| avg(&s[*q])).collect())
        .collect();
    let ft: Vec<f64> = (0..paired.len())
        .map(|i| per_seed.iter().map(|s| s[i]).sum::<f64>() / per_seed.len() as f64)
        .collect();
    let seed_diffs: Vec<Vec<f64>> = per_seed
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let r = match reference {
                Reference::Base(_) => &ref_rows[0],
                Reference::PerSeed(_) => &ref_rows[k],
            };
            s.iter().zip(r).map(|(f, b)| snap(f - b)).collect()
        })
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
        kind: input.kind,
        format: input.format.map(str::to_owned),
        reference_format: input.reference_format.map(str::to_owned),
        icl_shots: input.icl_shots,
        reference_n: input.reference_n,
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
        m: None,
        p_wilcoxon: tested.then(|| wilcoxon_p(&diffs).unwrap_or(1.0)),
        p_mcnemar,
        test: inference.test.to_owned(),
        se: inference.se,
        df: inference.df,
        mde: None,
        components: inference.components,
        verdict: None,
        seeds: seeds.iter().map(|(s, _)| *s).collect(),
        questions: paired.len(),
        seed_sd: sample_sd(&seed_means),
        seed_means,
        judge_sd: judge_sd(input.metric, &ref_arms, seeds, &paired),
        training_variance: if several_seeds {
            TRAINING_VARIANCE_ASSESSED
        } else {
            TRAINING_VARIANCE_NOT_ASSESSED
        }
        .to_owned(),
    })
}

/// √(mean sample variance across repeats) over every paired answer with ≥ 2 repeats.
fn judge_sd(
    metric: Metric,
    reference: &[&QuestionScores],
    seeds: &[(u64, &QuestionScores)],
    paired: &[&String],
) -> Option<f64> {
    if !metric.is_judge() {
        return None;
    }
    let arms = reference
        .iter()
        .copied()
        .chain(seeds.iter().map(|(_, s)| *s));
    let vars: Vec<f64> = arms
        .flat_map(|arm| paired.iter().filter_map(move |q| arm.get(*q)))
        .filter_map(|v| sample_sd(v).map(|sd| sd * sd))
        .collect();
    mean(&vars).map(f64::sqrt)
}
