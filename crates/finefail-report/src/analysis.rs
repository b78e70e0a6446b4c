//! The numbers the report needs beyond `comparison.json`, derived once from the inputs: every arm
//! parsed, per-arm per-question metric values (mean over judge repeats, error rows left out), judge
//! error counts, and the questions of each dataset by id.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use finefail_core::{AnswerContext, ArmId};
use finefail_data::{Label, QaRecord};
use finefail_score::{Comparison, ComparisonKind, Metric};

use crate::{ReportError, ReportInput};

/// Question id → value.
pub(crate) type PerQuestion = BTreeMap<String, f64>;

/// The inputs, indexed for the report.
pub(crate) struct Analysis<'a> {
    pub input: &'a ReportInput,
    /// Every arm that has scores or answers, by name.
    pub arms: BTreeMap<String, ArmId>,
    /// (arm, metric) → per-question value, the mean over the non-error repeats.
    pub values: HashMap<(String, Metric), PerQuestion>,
    /// Arm → score rows with `error` set (failed judgments).
    pub errors: BTreeMap<String, usize>,
    /// Dataset → question id → record.
    pub questions: HashMap<String, HashMap<String, &'a QaRecord>>,
}

impl<'a> Analysis<'a> {
    /// Indexes `input`, checking that every arm names a dataset the input describes and every
    /// answered question exists in it.
    pub fn new(input: &'a ReportInput) -> Result<Self, ReportError> {
        let mut questions: HashMap<String, HashMap<String, &QaRecord>> = HashMap::new();
        for d in &input.datasets {
            if questions.contains_key(&d.name) {
                return Err(ReportError::BadInput(format!(
                    "dataset `{}` is given twice to the report",
                    d.name
                )));
            }
            questions.insert(
                d.name.clone(),
                d.questions.iter().map(|q| (q.id.clone(), q)).collect(),
            );
        }
        let mut arms = BTreeMap::new();
        let names = input
            .scores
            .iter()
            .map(|r| &r.arm)
            .chain(input.answers.iter().map(|a| &a.arm));
        for name in names {
            if arms.contains_key(name) {
                continue;
            }
            let arm: ArmId = name.parse()?;
            if !questions.contains_key(&arm.dataset) {
                return Err(ReportError::BadInput(format!(
                    "arm {name}: dataset `{}` is not among the report's datasets",
                    arm.dataset
                )));
            }
            arms.insert(name.clone(), arm);
        }
        for c in &input.comparison.comparisons {
            if !questions.contains_key(&c.dataset) {
                return Err(ReportError::BadInput(format!(
                    "comparison.json names dataset `{}`, which is not among the report's datasets",
                    c.dataset
                )));
            }
        }
        for a in &input.answers {
            let ds = &arms[&a.arm].dataset;
            if !questions[ds].contains_key(&a.question_id) {
                return Err(ReportError::BadInput(format!(
                    "arm {}: answer for question id `{}`, which is not in dataset `{ds}`",
                    a.arm, a.question_id
                )));
            }
        }

        let mut sums: HashMap<(String, Metric), BTreeMap<String, (f64, usize)>> = HashMap::new();
        let mut errors = BTreeMap::new();
        for r in &input.scores {
            match (r.value, &r.error) {
                (Some(v), None) => {
                    let e = sums
                        .entry((r.arm.clone(), r.metric))
                        .or_default()
                        .entry(r.question_id.clone())
                        .or_insert((0.0, 0));
                    e.0 += v;
                    e.1 += 1;
                }
                _ => *errors.entry(r.arm.clone()).or_insert(0) += 1,
            }
        }
        let values = sums
            .into_iter()
            .map(|(k, per_q)| {
                let means = per_q
                    .into_iter()
                    .map(|(q, (s, n))| (q, s / n as f64))
                    .collect();
                (k, means)
            })
            .collect();
        Ok(Analysis {
            input,
            arms,
            values,
            errors,
            questions,
        })
    }

    /// Models that appear for `dataset` (in arms or comparisons), sorted.
    pub fn models(&self, dataset: &str) -> Vec<String> {
        let mut set: BTreeSet<String> = self
            .arms
            .values()
            .filter(|a| a.dataset == dataset)
            .map(|a| a.model.clone())
            .collect();
        set.extend(
            self.comparisons(dataset, None)
                .into_iter()
                .map(|c| c.model.clone()),
        );
        set.into_iter().collect()
    }

    /// The `vs_base` comparisons (N against N = 0) of `dataset` (and `model` when given), in file
    /// order: the per-dataset tables and curves are about N against the base model; the
    /// `vs_previous` entries appear in the summary table.
    pub fn comparisons(&self, dataset: &str, model: Option<&str>) -> Vec<&'a Comparison> {
        self.input
            .comparison
            .comparisons
            .iter()
            .filter(|c| c.kind == ComparisonKind::VsBase)
            .filter(|c| c.dataset == dataset && model.is_none_or(|m| c.model == m))
            .collect()
    }

    /// True when the dataset's questions are label (yes/no/maybe) questions.
    pub fn is_label_dataset(&self, dataset: &str) -> bool {
        self.questions
            .get(dataset)
            .is_some_and(|qs| !qs.is_empty() && qs.values().all(|q| q.label.is_some()))
    }

    /// True when any arm of `dataset` has judge scores.
    pub fn judge_ran(&self, dataset: &str) -> bool {
        self.input.scores.iter().any(|r| {
            r.metric.is_judge() && self.arms.get(&r.arm).is_some_and(|a| a.dataset == dataset)
        })
    }

    /// Primary metrics of (dataset, model): those `comparison.json` marks primary, else the
    /// default rule (judge metrics, else label accuracy, else token F1 and answer recall).
    pub fn primary_metrics(&self, dataset: &str, model: &str) -> Vec<Metric> {
        let marked: BTreeSet<Metric> = self
            .comparisons(dataset, Some(model))
            .iter()
            .filter(|c| c.primary)
            .map(|c| c.metric)
            .collect();
        if marked.is_empty() {
            finefail_score::default_primary(self.judge_ran(dataset), self.is_label_dataset(dataset))
        } else {
            marked.into_iter().collect()
        }
    }

    /// Per-question values of one arm for one metric (empty when never scored).
    pub fn arm_values(&self, arm: &str, metric: Metric) -> Option<&PerQuestion> {
        self.values.get(&(arm.to_owned(), metric))
    }

    /// Mean over questions of an arm's per-question values.
    pub fn arm_mean(&self, arm: &str, metric: Metric) -> Option<f64> {
        let v = self.arm_values(arm, metric)?;
        (!v.is_empty()).then(|| v.values().sum::<f64>() / v.len() as f64)
    }

    /// Fine-tuned arms (every seed) of (dataset, model, N, training format, context), sorted by
    /// seed; `format` is `None` in a one-format study. Never an in-context arm.
    pub fn seed_arms(
        &self,
        dataset: &str,
        model: &str,
        (n, format): (u64, Option<&str>),
        context: AnswerContext,
    ) -> Vec<String> {
        let mut v: Vec<(Option<u64>, String)> = self
            .arms
            .iter()
            .filter(|(_, a)| {
                a.dataset == dataset
                    && a.model == model
                    && a.n == n
                    && a.icl.is_none()
                    && a.format.as_deref() == format
                    && a.context == context
            })
            .map(|(name, a)| (a.seed, name.clone()))
            .collect();
        v.sort();
        v.into_iter().map(|(_, n)| n).collect()
    }

    /// Per question (paired: scored in the base arm and in every seed) the base value and the
    /// fine-tuned value averaged over seeds — the points of the base-vs-fine-tuned scatter.
    pub fn paired_points(
        &self,
        dataset: &str,
        model: &str,
        size: (u64, Option<&str>),
        context: AnswerContext,
        metric: Metric,
    ) -> Vec<(String, f64, f64)> {
        let base_name = base_arm(dataset, model, context);
        let Some(base) = self.arm_values(&base_name, metric) else {
            return Vec::new();
        };
        let seeds: Vec<&PerQuestion> = self
            .seed_arms(dataset, model, size, context)
            .iter()
            .filter_map(|a| self.arm_values(a, metric))
            .collect();
        if seeds.is_empty() {
            return Vec::new();
        }
        base.iter()
            .filter_map(|(q, b)| {
                let vals: Option<Vec<f64>> = seeds.iter().map(|s| s.get(q).copied()).collect();
                vals.map(|v| (q.clone(), *b, v.iter().sum::<f64>() / v.len() as f64))
            })
            .collect()
    }

    /// The most frequent label among the questions the base arm of `dataset` answered (all the
    /// dataset's label questions when no base arm exists), and its share: what always answering that
    /// label scores on `label_accuracy`.
    pub fn majority_label(&self, dataset: &str) -> Option<(Label, f64, usize)> {
        let qs = self.questions.get(dataset)?;
        let answered: BTreeSet<&str> = self
            .input
            .answers
            .iter()
            .filter(|a| {
                self.arms
                    .get(&a.arm)
                    .is_some_and(|n| n.dataset == dataset && n.is_base())
            })
            .map(|a| a.question_id.as_str())
            .collect();
        let mut counts: BTreeMap<&str, (Label, usize)> = BTreeMap::new();
        let mut total = 0usize;
        for q in qs.values() {
            if !answered.is_empty() && !answered.contains(q.id.as_str()) {
                continue;
            }
            if let Some(l) = q.label {
                counts.entry(l.as_str()).or_insert((l, 0)).1 += 1;
                total += 1;
            }
        }
        let (label, count) = counts
            .values()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.as_str().cmp(a.0.as_str())))?;
        Some((*label, *count as f64 / total as f64, total))
    }
}

impl Analysis<'_> {
    /// recall@`top_k` and MRR over the test questions of `dataset` (those its arms answered) that
    /// have gold documents, with their count: `retrieval_metrics.json` counts every question of
    /// the dataset, which says little about the questions the verdicts rest on. Computed as the
    /// retrieve step does, at the document level (a chunk id is `{doc_id}#{i}`). `None` when no
    /// answered question has gold documents or nothing was retrieved.
    pub fn test_retrieval_quality(&self, dataset: &str, top_k: usize) -> Option<(f64, f64, usize)> {
        let d = self.input.datasets.iter().find(|d| d.name == dataset)?;
        let qs = self.questions.get(dataset)?;
        let answered: BTreeSet<&str> = self
            .input
            .answers
            .iter()
            .filter(|a| self.arms.get(&a.arm).is_some_and(|x| x.dataset == dataset))
            .map(|a| a.question_id.as_str())
            .collect();
        let (mut counted, mut hits, mut rr_sum) = (0usize, 0usize, 0.0f64);
        for id in answered {
            let Some(q) = qs.get(id).filter(|q| !q.gold_doc_ids.is_empty()) else {
                continue;
            };
            counted += 1;
            let chunks = d.retrieval.get(id).map_or(&[][..], Vec::as_slice);
            let first = chunks.iter().take(top_k).position(|c| {
                let doc = c.rsplit_once('#').map_or(c.as_str(), |(doc, _)| doc);
                q.gold_doc_ids.iter().any(|g| g == doc)
            });
            if let Some(rank) = first {
                hits += 1;
                rr_sum += 1.0 / (rank + 1) as f64;
            }
        }
        (counted > 0 && !d.retrieval.is_empty()).then(|| {
            (
                hits as f64 / counted as f64,
                rr_sum / counted as f64,
                counted,
            )
        })
    }
}

/// The base arm's name for a context: `{dataset}/{model}/n0[@context]`.
pub(crate) fn base_arm(dataset: &str, model: &str, context: AnswerContext) -> String {
    ArmId::new(dataset, model, 0, None, context).to_string()
}
