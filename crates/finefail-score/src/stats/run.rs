//! All comparisons of a run from its score rows: group arms, check they share a test set, compare
//! every fine-tuned arm with its base arm for every metric, then Holm over the primary entries.

use std::collections::{BTreeMap, BTreeSet};

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

/// Every `comparison.json` entry for the score rows of a run (all arms, base arms included).
///
/// Bad input: an unparsable arm name, a group with fine-tuned arms but no base arm (or several),
/// a fine-tuned arm scored on a different question set than its base arm, or a primary metric with
/// no paired question. Secondary metrics with nothing to pair (e.g. `faithfulness` without
/// retrieval) are skipped. Entries are ordered by dataset, model, context, then the `vs_base`
/// entries (by N, then metric), then the `vs_previous` ones: each fine-tuned size after the first
/// against the size before it (by N, then metric), for the sizes that share a training seed.
pub fn compare_run(rows: &[ScoreRow], cfg: &StatsConfig) -> Result<Vec<Comparison>, ScoreError> {
    analyse_run(rows, cfg).map(|(comparisons, _)| comparisons)
}

/// [`compare_run`]'s comparisons and, per dataset, model, context and metric with at least two
/// fine-tuned sizes sharing a seed, the trend across N ([`super::trend`]), both Holm-adjusted.
pub fn analyse_run(
    rows: &[ScoreRow],
    cfg: &StatsConfig,
) -> Result<(Vec<Comparison>, Vec<Trend>), ScoreError> {
    // arm -> metric -> question -> values; plus every arm's question set (error rows included).
    let mut by_arm: BTreeMap<ArmId, BTreeMap<Metric, QuestionScores>> = BTreeMap::new();
    let mut questions: BTreeMap<ArmId, BTreeSet<&str>> = BTreeMap::new();
    let mut has_metric: BTreeMap<GroupKey, BTreeSet<Metric>> = BTreeMap::new();
    for r in rows {
        let arm: ArmId = r.arm.parse()?;
        let key = (arm.dataset.clone(), arm.model.clone(), arm.context);
        has_metric.entry(key).or_default().insert(r.metric);
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

    // group -> base arm, and group -> n -> seed -> arm
    let mut bases: BTreeMap<GroupKey, Vec<&ArmId>> = BTreeMap::new();
    let mut tuned: BTreeMap<GroupKey, BTreeMap<u64, BTreeMap<u64, &ArmId>>> = BTreeMap::new();
    for arm in by_arm.keys() {
        let key = (arm.dataset.clone(), arm.model.clone(), arm.context);
        if arm.n == 0 {
            bases.entry(key).or_default().push(arm);
        } else {
            tuned
                .entry(key)
                .or_default()
                .entry(arm.n)
                .or_default()
                .insert(arm.seed.unwrap_or(0), arm);
        }
    }

    let empty = BTreeMap::new();
    let mut out = Vec::new();
    let mut trends = Vec::new();
    for (key, sizes) in &tuned {
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
        for (n, seeds) in sizes {
            for arm in seeds.values() {
                if questions.get(*arm) != questions.get(base) {
                    return Err(ScoreError::BadInput(format!(
                        "arm {arm} was scored on a different set of questions than base arm {base}"
                    )));
                }
            }
            for metric in Metric::ALL {
                let is_primary = primary.contains(&metric);
                if !metrics.contains(&metric) && !is_primary {
                    continue;
                }
                let base_scores = by_arm[base].get(&metric).unwrap_or(&empty);
                let seed_scores: Vec<(u64, QuestionScores)> = seeds
                    .iter()
                    .map(|(s, arm)| (*s, by_arm[*arm].get(&metric).cloned().unwrap_or_default()))
                    .collect();
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
                match compare(&input, cfg) {
                    Ok(c) => out.push(c),
                    Err(e) if is_primary => return Err(e),
                    Err(_) => {}
                }
            }
        }
        let scores_of = |seeds: &BTreeMap<u64, &ArmId>, metric: Metric| {
            seeds
                .iter()
                .map(|(s, arm)| (*s, by_arm[*arm].get(&metric).cloned().unwrap_or_default()))
                .collect::<Vec<(u64, QuestionScores)>>()
        };
        let ordered: Vec<(&u64, &BTreeMap<u64, &ArmId>)> = sizes.iter().collect();
        for pair in ordered.windows(2) {
            let ((prev, prev_seeds), (n, seeds)) = (pair[0], pair[1]);
            if !seeds.keys().any(|s| prev_seeds.contains_key(s)) {
                continue;
            }
            for metric in Metric::ALL {
                let is_primary = primary.contains(&metric);
                if !metrics.contains(&metric) && !is_primary {
                    continue;
                }
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
                match compare_sizes(&input, cfg) {
                    Ok(c) => out.push(c),
                    Err(e) if is_primary => return Err(e),
                    Err(_) => {}
                }
            }
        }
        for metric in Metric::ALL {
            let is_primary = primary.contains(&metric);
            if !metrics.contains(&metric) && !is_primary {
                continue;
            }
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
                Ok(Some(t)) => trends.push(t),
                Ok(None) => {}
                Err(e) if is_primary => return Err(e),
                Err(_) => {}
            }
        }
    }
    apply_holm(&mut out, cfg.alpha, cfg.family);
    apply_trend_holm(&mut trends, cfg.alpha, cfg.family);
    Ok((out, trends))
}

/// A *label* dataset (label accuracy primary) has a label-accuracy score for every question the
/// base arm was scored on; a mixed dataset keeps the free-text primaries and reports label accuracy
/// as a secondary metric on its labelled subset.
fn is_label_dataset(base: &BTreeMap<Metric, QuestionScores>, questions: &BTreeSet<&str>) -> bool {
    base.get(&Metric::LabelAccuracy).is_some_and(|labelled| {
        !questions.is_empty() && questions.iter().all(|q| labelled.contains_key(*q))
    })
}
