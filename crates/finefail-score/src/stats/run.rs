//! All comparisons of a run from its score rows: group arms, check they share a test set, compare
//! every fine-tuned arm with its base arm for every metric, then the alternatives (the in-context
//! arm, other training formats), then Holm over the primary entries.

use std::collections::{BTreeMap, BTreeSet};

use super::alternatives::{compare_formats, compare_icl_with_base, compare_size_with_icl, Subject};
use super::compare::{
    compare, compare_sizes, default_primary, Comparison, ComparisonInput, QuestionScores,
    SizesInput, StatsConfig,
};
use super::family::{apply_holm, apply_trend_holm};
use super::trend::{trend, Trend, TrendInput};
use crate::{Metric, ScoreError, ScoreRow};
use finefail_core::{AnswerContext, ArmId};

/// (dataset, model, context): arms in one group are comparable.
type GroupKey = (String, String, AnswerContext);

/// seed -> arm, for one size (or one in-context K).
type Seeds<'a> = BTreeMap<u64, &'a ArmId>;

/// The arms of one group apart from its base arm: format (`None` with one format) -> N -> seeds,
/// and K -> seeds for the in-context arms.
#[derive(Default)]
struct Treated<'a> {
    tuned: BTreeMap<Option<String>, BTreeMap<u64, Seeds<'a>>>,
    icl: BTreeMap<u64, Seeds<'a>>,
}

/// Every `comparison.json` entry for the score rows of a run (all arms, base arms included).
///
/// Bad input: an unparsable arm name, a group with fine-tuned or in-context arms but no base arm
/// (or several), such an arm scored on a different question set than its base arm, or a primary
/// metric with no paired question. Secondary metrics with nothing to pair (e.g. `faithfulness`
/// without retrieval) are skipped. Entries are ordered by dataset, model, context; within one,
/// per training format (one unnamed format, or each named format in name order): the `vs_base`
/// entries (by N, then metric), then the `vs_previous` ones (each fine-tuned size after the first
/// against the size before it, for the sizes that share a training seed); then `vs_icl` (the
/// in-context arm against the base, then each format's sizes against it), then `vs_format` (per N,
/// each later format name against each earlier one).
pub fn compare_run(rows: &[ScoreRow], cfg: &StatsConfig) -> Result<Vec<Comparison>, ScoreError> {
    analyse_run(rows, cfg).map(|(comparisons, _)| comparisons)
}

/// [`compare_run`]'s comparisons and, per dataset, model, context, training format and metric with
/// at least two fine-tuned sizes sharing a seed, the trend across N ([`super::trend`]), both
/// Holm-adjusted.
pub fn analyse_run(
    rows: &[ScoreRow],
    cfg: &StatsConfig,
) -> Result<(Vec<Comparison>, Vec<Trend>), ScoreError> {
    // arm -> metric -> question -> values; plus every arm's question set (error rows included).
    let mut by_arm: BTreeMap<ArmId, BTreeMap<Metric, QuestionScores>> = BTreeMap::new();
    let mut questions: BTreeMap<ArmId, BTreeSet<&str>> = BTreeMap::new();
    let mut has_metric: BTreeMap<GroupKey, BTreeSet<Metric>> = BTreeMap::new();
    if let Some(m) = cfg.primary.iter().flatten().find(|m| !m.may_be_primary()) {
        return Err(ScoreError::BadInput(format!(
            "stats.primary: `{m}` cannot be primary (label log-likelihood metrics are exploratory)"
        )));
    }
    for r in rows {
        let arm: ArmId = r.arm.parse()?;
        let key = (arm.dataset.clone(), arm.model.clone(), arm.context);
        // Per-label log-probabilities are kept for audit, never compared (issue 25).
        if r.metric.is_compared() {
            has_metric.entry(key).or_default().insert(r.metric);
        }
        questions
            .entry(arm.clone())
            .or_default()
            .insert(r.question_id.as_str());
        let q = by_arm
            .entry(arm)
            .or_default()
            .entry(r.metric)
            .or_default()
            .entry(r.question_id.clone())
            .or_default();
        if let (Some(v), None) = (r.value, &r.error) {
            q.push(v);
        }
    }

    // group -> base arms, and group -> the arms compared with it
    let mut bases: BTreeMap<GroupKey, Vec<&ArmId>> = BTreeMap::new();
    let mut treated: BTreeMap<GroupKey, Treated> = BTreeMap::new();
    for arm in by_arm.keys() {
        let key = (arm.dataset.clone(), arm.model.clone(), arm.context);
        let seed = arm.seed.unwrap_or(0);
        if let Some(k) = arm.icl {
            let group = treated.entry(key).or_default();
            group.icl.entry(k).or_default().insert(seed, arm);
        } else if arm.is_base() {
            bases.entry(key).or_default().push(arm);
        } else {
            let group = treated.entry(key).or_default();
            group
                .tuned
                .entry(arm.format.clone())
                .or_default()
                .entry(arm.n)
                .or_default()
                .insert(seed, arm);
        }
    }

    let empty = BTreeMap::new();
    let mut out = Vec::new();
    let mut trends = Vec::new();
    for (key, group) in &treated {
        let (dataset, model, context) = key;
        let base = match bases.get(key).map(Vec::as_slice) {
            Some([one]) => *one,
            Some(many) => {
                let names: Vec<String> = many.iter().map(|a| a.to_string()).collect();
                return Err(ScoreError::BadInput(format!(
                    "several base arms for {dataset}/{model} ({context}): {}",
                    names.join(", ")
                )));
            }
            None => {
                let base = ArmId::new(dataset, model, 0, None, *context);
                return Err(ScoreError::BadInput(format!(
                    "no base arm {base} among the scored answers"
                )));
            }
        };
        let metrics = has_metric.get(key).cloned().unwrap_or_default();
        let judge_ran = metrics.iter().any(|m| m.is_judge());
        let label = is_label_dataset(&by_arm[base], &questions[base]);
        let primary = cfg
            .primary
            .clone()
            .unwrap_or_else(|| default_primary(judge_ran, label));
        let all_seeds = group
            .tuned
            .values()
            .flat_map(|sizes| sizes.values())
            .chain(group.icl.values());
        for seeds in all_seeds {
            for arm in seeds.values() {
                if questions.get(*arm) != questions.get(base) {
                    return Err(ScoreError::BadInput(format!(
                        "arm {arm} was scored on a different set of questions than base arm {base}"
                    )));
                }
            }
        }
        // The metrics compared: every metric scored, and the primary ones whatever was scored.
        let compared: Vec<(Metric, bool)> = Metric::ALL
            .into_iter()
            .map(|m| (m, primary.contains(&m)))
            .filter(|(m, is_primary)| metrics.contains(m) || *is_primary)
            .collect();
        // A secondary metric with nothing to pair is skipped; a primary one is bad input.
        let mut keep = |result: Result<Comparison, ScoreError>, is_primary: bool| match result {
            Ok(c) => {
                out.push(c);
                Ok(())
            }
            Err(e) if is_primary => Err(e),
            Err(_) => Ok(()),
        };
        // What an alternatives comparison (vs_icl, vs_format) of one metric is about.
        let subject_of = |metric: Metric, primary: bool| Subject {
            dataset,
            model,
            context: *context,
            metric,
            primary,
        };
        let scores_of = |seeds: &Seeds, metric: Metric| {
            seeds
                .iter()
                .map(|(s, arm)| (*s, by_arm[*arm].get(&metric).cloned().unwrap_or_default()))
                .collect::<Vec<(u64, QuestionScores)>>()
        };
        for (format, sizes) in &group.tuned {
            for (n, seeds) in sizes {
                for &(metric, is_primary) in &compared {
                    let base_scores = by_arm[base].get(&metric).unwrap_or(&empty);
                    let seed_scores = scores_of(seeds, metric);
                    let input = ComparisonInput {
                        dataset,
                        model,
                        n: *n,
                        context: *context,
                        metric,
                        primary: is_primary,
                        base: base_scores,
                        seeds: &seed_scores,
                    };
                    keep(
                        compare(&input, cfg).map(|c| with_format(c, format)),
                        is_primary,
                    )?;
                }
            }
            let ordered: Vec<(&u64, &Seeds)> = sizes.iter().collect();
            for pair in ordered.windows(2) {
                let ((prev, prev_seeds), (n, seeds)) = (pair[0], pair[1]);
                if !seeds.keys().any(|s| prev_seeds.contains_key(s)) {
                    continue;
                }
                for &(metric, is_primary) in &compared {
                    let reference = scores_of(prev_seeds, metric);
                    let seed_scores = scores_of(seeds, metric);
                    let input = SizesInput {
                        dataset,
                        model,
                        n: *n,
                        reference_n: *prev,
                        context: *context,
                        metric,
                        primary: is_primary,
                        reference: &reference,
                        seeds: &seed_scores,
                    };
                    keep(
                        compare_sizes(&input, cfg).map(|c| with_format(c, format)),
                        is_primary,
                    )?;
                }
            }
            for &(metric, is_primary) in &compared {
                let per_size: Vec<(u64, Vec<(u64, QuestionScores)>)> = sizes
                    .iter()
                    .map(|(n, seeds)| (*n, scores_of(seeds, metric)))
                    .collect();
                let input = TrendInput {
                    dataset,
                    model,
                    context: *context,
                    metric,
                    primary: is_primary,
                    sizes: &per_size,
                };
                match trend(&input, cfg) {
                    Ok(Some(mut t)) => {
                        t.format = format.clone();
                        trends.push(t)
                    }
                    Ok(None) => {}
                    Err(e) if is_primary => return Err(e),
                    Err(_) => {}
                }
            }
        }
        for (k, icl_seeds) in &group.icl {
            for &(metric, is_primary) in &compared {
                let subject = subject_of(metric, is_primary);
                let icl = scores_of(icl_seeds, metric);
                let base_scores = by_arm[base].get(&metric).unwrap_or(&empty);
                keep(
                    compare_icl_with_base(&subject, *k, base_scores, &icl, cfg),
                    is_primary,
                )?;
            }
            for (format, sizes) in &group.tuned {
                for (n, seeds) in sizes {
                    if !seeds.keys().any(|s| icl_seeds.contains_key(s)) {
                        continue;
                    }
                    for &(metric, is_primary) in &compared {
                        let subject = subject_of(metric, is_primary);
                        let icl = scores_of(icl_seeds, metric);
                        let tuned = scores_of(seeds, metric);
                        let c = compare_size_with_icl(
                            &subject,
                            *n,
                            format.as_deref(),
                            *k,
                            &icl,
                            &tuned,
                            cfg,
                        );
                        keep(c, is_primary)?;
                    }
                }
            }
        }
        let named: Vec<(&String, &BTreeMap<u64, Seeds>)> = group
            .tuned
            .iter()
            .filter_map(|(f, sizes)| f.as_ref().map(|f| (f, sizes)))
            .collect();
        for (j, (format, sizes)) in named.iter().enumerate() {
            for (reference_format, reference_sizes) in &named[..j] {
                for (n, seeds) in *sizes {
                    let Some(reference_seeds) = reference_sizes.get(n) else {
                        continue;
                    };
                    if !seeds.keys().any(|s| reference_seeds.contains_key(s)) {
                        continue;
                    }
                    for &(metric, is_primary) in &compared {
                        let subject = subject_of(metric, is_primary);
                        let reference = scores_of(reference_seeds, metric);
                        let tuned = scores_of(seeds, metric);
                        let c = compare_formats(
                            &subject,
                            *n,
                            format,
                            reference_format,
                            &reference,
                            &tuned,
                            cfg,
                        );
                        keep(c, is_primary)?;
                    }
                }
            }
        }
    }
    apply_holm(&mut out, cfg.alpha, cfg.family);
    apply_trend_holm(&mut trends, cfg.alpha, cfg.family);
    Ok((out, trends))
}

/// `c` tagged with the training format of its N side (several formats only).
fn with_format(mut c: Comparison, format: &Option<String>) -> Comparison {
    c.format = format.clone();
    c
}

/// A *label* dataset (label accuracy primary) has a label-accuracy score for every question the
/// base arm was scored on; a mixed dataset keeps the free-text primaries and reports label accuracy
/// as a secondary metric on its labelled subset.
fn is_label_dataset(base: &BTreeMap<Metric, QuestionScores>, questions: &BTreeSet<&str>) -> bool {
    base.get(&Metric::LabelAccuracy).is_some_and(|labelled| {
        !questions.is_empty() && questions.iter().all(|q| labelled.contains_key(*q))
    })
}
