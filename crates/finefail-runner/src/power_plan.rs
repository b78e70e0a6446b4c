//! What a configured design can detect, said before any hour is spent (`finefail run --plan`):
//! per dataset and primary metric, the minimum detectable effect of the verdict's own test at the
//! family's first Holm level (the pivot with several seeds, [`finefail_score::stats::pivot_power`];
//! a t with one), and — with `stats.target_mde` — how many seeds or test questions that target needs.
//!
//! The variance components come from a finished run's `comparison.json` (`--pilot RUN_DIR`: its
//! `vs_base` entries of the main context, pooled over sizes and models) or from documented
//! defaults per kind of metric; every line says which.

use std::path::{Path, PathBuf};

use finefail_core::{files, AnswerContext};
use finefail_data::importers::Format;
use finefail_score::stats::compare::ComparisonKind;
use finefail_score::stats::components::VarianceComponents;
use finefail_score::stats::pivot_power::{
    pivot_mde, CriticalValues, Design, POWER_DRAWS, POWER_SEED,
};
use finefail_score::stats::power::{minimum_detectable_effect, normal_power};
use finefail_score::{default_primary, HolmFamily, Metric};

use crate::config::{Config, DatasetConfig};
use crate::error::RunnerError;

/// Most seeds the planner tries for `stats.target_mde`.
pub const MAX_PLANNED_SEEDS: usize = 30;
/// Most test questions the planner tries for `stats.target_mde`.
pub const MAX_PLANNED_QUESTIONS: usize = 100_000;

/// Where a line's variance components came from.
#[derive(Debug, Clone, PartialEq)]
pub enum ComponentsSource {
    /// Documented defaults for the metric's kind (docs/metrics.md, "Planning the power").
    Default,
    /// A finished run with several seeds.
    Pilot(PathBuf),
    /// A finished run with one seed: the question spread is its own, the seed spread and the split
    /// of the rest are the defaults'.
    PilotOneSeed(PathBuf),
}

impl std::fmt::Display for ComponentsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ComponentsSource::Default => {
                write!(f, "default components (pass --pilot RUN_DIR for yours)")
            }
            ComponentsSource::Pilot(p) => write!(f, "components from {}", p.display()),
            ComponentsSource::PilotOneSeed(p) => write!(
                f,
                "components from {} (one seed there: seed spread assumed)",
                p.display()
            ),
        }
    }
}

/// What a target MDE needs, each holding the other design value fixed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TargetAdvice {
    /// `stats.target_mde`.
    pub target: f64,
    /// Seeds needed at the configured question count (`None`: more than [`MAX_PLANNED_SEEDS`]).
    pub seeds: Option<usize>,
    /// Questions needed at the configured seeds (`None`: not reachable by questions alone, the
    /// seeds' own spread sets a floor, or more than [`MAX_PLANNED_QUESTIONS`]).
    pub questions: Option<usize>,
}

/// One line of the power plan.
#[derive(Debug, Clone, PartialEq)]
pub struct PowerLine {
    /// Dataset name.
    pub dataset: String,
    /// A primary metric.
    pub metric: Metric,
    /// The configured design (seeds × questions at α / family).
    pub design: Design,
    /// The MDE at 80 % power (`None` with no variance to speak of).
    pub mde: Option<f64>,
    /// The power at a few differences on the metric's scale ([`reference_effects`]), so a design
    /// whose MDE lies beyond the metric's range still says what it can see.
    pub power_at: Vec<(f64, f64)>,
    /// The components it was computed from.
    pub components: VarianceComponents,
    /// Where they came from.
    pub source: ComponentsSource,
    /// With `stats.target_mde`: what that target needs.
    pub advice: Option<TargetAdvice>,
}

/// Default components by kind of metric: a 0/1 score (label accuracy, exact match), a 1–5 judge
/// score, or a score in [0, 1] (token F1, answer recall). Rough values for a small model's answers:
/// a seed sd of 0.04 on [0, 1] scores (the middle of the 0.04–0.08 seen between training seeds)
/// and per-question spreads that give a one-seed difference sd of ≈ 0.30 (continuous) or ≈ 0.46
/// (0/1: about a fifth of the answers flip). Measured values beat them: `--pilot`.
pub fn default_components(metric: Metric) -> VarianceComponents {
    if metric.is_judge() {
        VarianceComponents {
            seed_sd: 0.15,
            question_sd: 0.6,
            residual_sd: 0.7,
        }
    } else if metric.is_binary() {
        VarianceComponents {
            seed_sd: 0.04,
            question_sd: 0.3,
            residual_sd: 0.35,
        }
    } else {
        VarianceComponents {
            seed_sd: 0.04,
            question_sd: 0.2,
            residual_sd: 0.22,
        }
    }
}

/// Formats whose every question has a yes/no(/maybe) label: label accuracy is their default
/// primary. Generic formats (jsonl, csv, parquet) are planned as free text; the run decides from
/// the data.
fn label_format(format: Format) -> bool {
    matches!(format, Format::PubMedQa | Format::BoolQ)
}

/// The primary metrics a dataset will have: `stats.primary`, else the default rule.
fn primaries(config: &Config, d: &DatasetConfig) -> Vec<Metric> {
    if config.stats.primary.is_empty() {
        default_primary(config.judge.is_some(), label_format(d.format))
    } else {
        config.stats.primary.clone()
    }
}

/// Primary tests a dataset × model contributes to the main context's family, per primary metric:
/// per training format each fine-tuned size against N = 0 and each size after the first against
/// the one before; with `eval.icl_shots` the in-context arm against N = 0 and every size of every
/// format against it; with several formats, at each size each pair of formats.
fn tests_per_model(config: &Config, d: &DatasetConfig) -> usize {
    let sizes = d.sizes.as_ref().unwrap_or(&config.sweep.sizes);
    let tuned = sizes.iter().filter(|n| **n > 0).count();
    let formats = config.formats().len();
    let per_format = (2 * tuned).saturating_sub(1);
    let icl = if config.eval.icl_shots > 0 {
        1 + formats * tuned
    } else {
        0
    };
    let format_pairs = formats * formats.saturating_sub(1) / 2 * tuned;
    (formats * per_format + icl + format_pairs) * primaries(config, d).len()
}

/// The Holm family size of a dataset's primary tests under `stats.family`.
fn family_size(config: &Config, d: &DatasetConfig) -> usize {
    let models = config.models.len().max(1);
    match config.stats.family {
        HolmFamily::DatasetModelContext => tests_per_model(config, d),
        HolmFamily::Context => config
            .datasets
            .iter()
            .map(|x| tests_per_model(config, x) * models)
            .sum(),
    }
}

/// The pilot's components for a dataset and metric: several-seed entries pooled (mean variance per
/// component), else one-seed entries' difference sd with the default split, else `None`.
fn pilot_components(
    pilot: &finefail_score::ComparisonFile,
    dir: &Path,
    dataset: &str,
    metric: Metric,
) -> Option<(VarianceComponents, ComponentsSource)> {
    let entries: Vec<_> = pilot
        .comparisons
        .iter()
        .filter(|c| {
            c.dataset == dataset
                && c.metric == metric
                && c.kind == ComparisonKind::VsBase
                && c.context == AnswerContext::Retrieved
        })
        .collect();
    let pooled: Vec<VarianceComponents> = entries.iter().filter_map(|c| c.components).collect();
    let mean = |f: &dyn Fn(&VarianceComponents) -> f64| {
        (pooled.iter().map(|c| f(c).powi(2)).sum::<f64>() / pooled.len() as f64).sqrt()
    };
    if !pooled.is_empty() {
        let c = VarianceComponents {
            seed_sd: mean(&|c| c.seed_sd),
            question_sd: mean(&|c| c.question_sd),
            residual_sd: mean(&|c| c.residual_sd),
        };
        return Some((c, ComponentsSource::Pilot(dir.to_path_buf())));
    }
    // One seed: se·√n is the sd of one adapter's differences, σ²_q + σ²_e.
    let totals: Vec<f64> = entries
        .iter()
        .filter_map(|c| Some(c.se? * (c.questions as f64).sqrt()))
        .collect();
    if totals.is_empty() {
        return None;
    }
    let total = (totals.iter().map(|t| t * t).sum::<f64>() / totals.len() as f64).sqrt();
    let d = default_components(metric);
    let share = d.question_sd.powi(2) / (d.question_sd.powi(2) + d.residual_sd.powi(2));
    let c = VarianceComponents {
        seed_sd: d.seed_sd,
        question_sd: total * share.sqrt(),
        residual_sd: total * (1.0 - share).sqrt(),
    };
    Some((c, ComponentsSource::PilotOneSeed(dir.to_path_buf())))
}

/// The differences the plan states the power at: 0.05, 0.10 and 0.20 on a [0, 1] score, four
/// times that on a 1–5 judge score.
pub fn reference_effects(metric: Metric) -> [f64; 3] {
    let scale = if metric.is_judge() { 4.0 } else { 1.0 };
    [0.05 * scale, 0.1 * scale, 0.2 * scale]
}

/// The largest difference a metric can show: 4 on a 1–5 judge score, 1 on a [0, 1] score.
pub fn metric_range(metric: Metric) -> f64 {
    if metric.is_judge() {
        4.0
    } else {
        1.0
    }
}

/// The power of `design` at each of `effects`: the pivot's with several seeds; with one, a normal
/// approximation of the one adapter's test.
pub fn design_power(
    components: &VarianceComponents,
    design: &Design,
    effects: &[f64],
) -> Option<Vec<(f64, f64)>> {
    if design.seeds >= 2 {
        let c = CriticalValues::draw(components, design, POWER_DRAWS, POWER_SEED)?;
        return Some(effects.iter().map(|e| (*e, c.power(*e))).collect());
    }
    let n = design.questions as f64;
    let sd = (components.question_sd.powi(2) + components.residual_sd.powi(2)).sqrt();
    if design.questions < 2 || sd == 0.0 || design.family == 0 {
        return None;
    }
    let se = sd / n.sqrt();
    effects
        .iter()
        .map(|e| Some((*e, normal_power(se, design.alpha, design.family, *e)?)))
        .collect()
}

/// The MDE of `design` with these components: the pivot's with several seeds; with one, a t on the
/// one adapter's differences (what its sign-flip test sees; the seed spread is not part of it).
pub fn design_mde(components: &VarianceComponents, design: &Design) -> Option<f64> {
    if design.seeds >= 2 {
        return pivot_mde(components, design, POWER_SEED);
    }
    let n = design.questions as f64;
    let sd = (components.question_sd.powi(2) + components.residual_sd.powi(2)).sqrt();
    if design.questions < 2 || sd == 0.0 {
        return None;
    }
    minimum_detectable_effect(sd / n.sqrt(), n - 1.0, design.alpha, design.family)
}

/// Seeds and questions that reach `target`, each with the other held at the configured value.
fn advise(components: &VarianceComponents, design: &Design, target: f64) -> TargetAdvice {
    let reaches = |d: &Design| design_mde(components, d).is_some_and(|m| m <= target);
    let seeds = (design.seeds.max(2)..=MAX_PLANNED_SEEDS).find(|&s| {
        reaches(&Design {
            seeds: s,
            ..*design
        })
    });
    let with_questions = |n: usize| Design {
        questions: n,
        ..*design
    };
    // Doubling, then bisection, over the question count.
    let mut high = design.questions.max(2);
    while !reaches(&with_questions(high)) && high < MAX_PLANNED_QUESTIONS {
        high = (high * 2).min(MAX_PLANNED_QUESTIONS);
    }
    let questions = reaches(&with_questions(high)).then(|| {
        let mut low = design.questions.max(2).min(high);
        if reaches(&with_questions(low)) {
            return low;
        }
        while high - low > 1 {
            let mid = (low + high) / 2;
            if reaches(&with_questions(mid)) {
                high = mid;
            } else {
                low = mid;
            }
        }
        high
    });
    TargetAdvice {
        target,
        seeds,
        questions,
    }
}

/// The power plan of `config`: one line per dataset and primary metric. `pilot` is a finished run
/// folder whose `comparison.json` supplies the components (datasets or metrics it lacks use the
/// defaults). Errors: a pilot folder without a readable `comparison.json` (bad input).
pub fn power_plan(config: &Config, pilot: Option<&Path>) -> Result<Vec<PowerLine>, RunnerError> {
    let pilot_file = match pilot {
        Some(dir) => {
            let path = dir.join(files::COMPARISON);
            let file = finefail_score::read_comparison(&path).map_err(|e| RunnerError::Config {
                path: path.clone(),
                message: format!("--pilot needs a finished run's comparison file: {e}"),
            })?;
            Some((file, dir))
        }
        None => None,
    };
    let seeds = config.sweep.seeds.len().max(1);
    let mut lines = Vec::new();
    for d in &config.datasets {
        let design = Design {
            seeds,
            questions: d.test_size,
            alpha: config.stats.alpha,
            family: family_size(config, d).max(1),
        };
        for metric in primaries(config, d) {
            let (components, source) = pilot_file
                .as_ref()
                .and_then(|(f, dir)| pilot_components(f, dir, &d.name, metric))
                .unwrap_or((default_components(metric), ComponentsSource::Default));
            let mde = design_mde(&components, &design);
            let power_at =
                design_power(&components, &design, &reference_effects(metric)).unwrap_or_default();
            let advice = config
                .stats
                .target_mde
                .map(|t| advise(&components, &design, t));
            lines.push(PowerLine {
                dataset: d.name.clone(),
                metric,
                design,
                mde,
                power_at,
                components,
                source,
                advice,
            });
        }
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(sizes: Vec<usize>, seeds: Vec<u64>, test_size: usize) -> Config {
        let mut c = Config::default();
        c.sweep.sizes = sizes;
        c.sweep.seeds = seeds;
        c.datasets = vec![
            DatasetConfig {
                name: "pubmedqa".into(),
                format: Format::PubMedQa,
                test_size,
                ..DatasetConfig::default()
            },
            DatasetConfig {
                name: "squad".into(),
                format: Format::Squad,
                test_size,
                ..DatasetConfig::default()
            },
        ];
        c
    }

    #[test]
    fn family_counts_both_kinds_of_comparison() {
        let c = config(vec![0, 50, 100], vec![0, 1], 50);
        // 2 sizes vs base + 1 vs previous, × 1 label metric / × 2 free-text metrics.
        assert_eq!(family_size(&c, &c.datasets[0]), 3);
        assert_eq!(family_size(&c, &c.datasets[1]), 6);
        let mut wide = c.clone();
        wide.stats.family = HolmFamily::Context;
        assert_eq!(family_size(&wide, &wide.datasets[0]), 9);
        // The in-context arm and a second format join the family: per format 3 (as above), icl
        // vs 0 and 2 formats × 2 sizes vs icl (5), raft vs qa at 2 sizes (2) = 13 per metric.
        let mut alts = c.clone();
        alts.eval.icl_shots = 4;
        alts.sweep.formats = Some(vec![
            finefail_train::PromptFormat::Qa,
            finefail_train::PromptFormat::Raft,
        ]);
        assert_eq!(family_size(&alts, &alts.datasets[0]), 13);
        assert_eq!(family_size(&alts, &alts.datasets[1]), 26);
    }

    #[test]
    fn lines_per_dataset_and_primary_with_defaults() {
        let c = config(vec![0, 50, 100], vec![0, 1], 50);
        let lines = power_plan(&c, None).unwrap_or_else(|e| panic!("{e}"));
        let what: Vec<(&str, Metric)> = lines
            .iter()
            .map(|l| (l.dataset.as_str(), l.metric))
            .collect();
        assert_eq!(
            what,
            [
                ("pubmedqa", Metric::LabelAccuracy),
                ("squad", Metric::TokenF1),
                ("squad", Metric::AnswerRecall)
            ]
        );
        assert!(lines.iter().all(|l| l.source == ComponentsSource::Default));
        assert!(lines.iter().all(|l| l.mde.is_some_and(|m| m > 0.0)));
    }

    #[test]
    fn more_seeds_or_questions_for_a_target() {
        let mut c = config(vec![0, 100], vec![0, 1, 2], 100);
        c.stats.target_mde = Some(0.08);
        let lines = power_plan(&c, None).unwrap_or_else(|e| panic!("{e}"));
        let squad = &lines[1];
        let advice = squad.advice.unwrap_or_else(|| panic!("target set"));
        let seeds = advice.seeds.unwrap_or_else(|| panic!("reachable by seeds"));
        let reached = |s: usize, n: usize| {
            let d = Design {
                seeds: s,
                questions: n,
                ..squad.design
            };
            design_mde(&squad.components, &d).unwrap_or(f64::INFINITY)
        };
        assert!(reached(seeds, 100) <= 0.08 && reached(seeds - 1, 100) > 0.08);
        if let Some(n) = advice.questions {
            assert!(reached(3, n) <= 0.08 && reached(3, n - 1) > 0.08, "{n}");
        }
    }

    #[test]
    fn a_pilot_without_comparison_is_bad_input() {
        let dir = std::env::temp_dir().join(format!("ff-pilot-{}", std::process::id()));
        let c = config(vec![0, 50], vec![0, 1], 50);
        let err = power_plan(&c, Some(&dir)).err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("--pilot")));
    }
}
