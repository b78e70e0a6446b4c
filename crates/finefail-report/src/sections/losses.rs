//! Where fine-tuning lost questions: failure-attribution counts per arm and cause, and the largest
//! per-question regressions.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use finefail_score::{attribute_losses, chunk_doc_id, Answer, FailureCause, Metric, Question};

use super::CONTEXTS;
use crate::analysis::Analysis;
use crate::document::{literal, Block};
use crate::format::{num, signed};
use crate::ReportError;
use finefail_core::AnswerContext;

/// (fine-tuned arm, metric) → cause → lost questions.
pub(super) type LossCounts = BTreeMap<(String, Metric), HashMap<FailureCause, usize>>;

const CAUSES: [FailureCause; 4] = [
    FailureCause::RetrievalMiss,
    FailureCause::ContextIgnored,
    FailureCause::FormatDrift,
    FailureCause::Other,
];

/// (fine-tuned arm, metric) → cause → lost questions, over the dataset's primary metrics.
pub(super) fn failure_counts(a: &Analysis<'_>, dataset: &str) -> Result<LossCounts, ReportError> {
    let Some(qs) = a.questions.get(dataset) else {
        return Ok(BTreeMap::new());
    };
    let questions: HashMap<String, Question> = qs
        .iter()
        .map(|(id, q)| {
            (
                id.clone(),
                Question {
                    id: q.id.clone(),
                    question: q.question.clone(),
                    answers: q.answers.clone(),
                    answer_type: q.answer_type.as_str().to_owned(),
                    label: q.label.map(|l| l.as_str().to_owned()),
                    answerable: q.answerable,
                    gold_doc_ids: q.gold_doc_ids.clone(),
                },
            )
        })
        .collect();
    let in_dataset = |arm: &str| a.arms.get(arm).is_some_and(|x| x.dataset == dataset);
    let answers: Vec<Answer> = a
        .input
        .answers
        .iter()
        .filter(|x| in_dataset(&x.arm))
        .map(|x| Answer {
            arm: x.arm.clone(),
            question_id: x.question_id.clone(),
            answer: x.answer.clone(),
            answer_tokens: x.answer_tokens,
        })
        .collect();
    let rows: Vec<_> = a
        .input
        .scores
        .iter()
        .filter(|r| in_dataset(&r.arm))
        .cloned()
        .collect();
    let retrieval = a
        .input
        .datasets
        .iter()
        .find(|d| d.name == dataset)
        .and_then(|d| {
            (!d.retrieval.is_empty()).then(|| {
                d.retrieval
                    .iter()
                    .map(|(q, chunks)| {
                        let docs = chunks.iter().map(|c| chunk_doc_id(c).to_owned()).collect();
                        (q.clone(), docs)
                    })
                    .collect::<HashMap<String, Vec<String>>>()
            })
        });
    let mut metrics: BTreeSet<Metric> = BTreeSet::new();
    for m in a.models(dataset) {
        metrics.extend(a.primary_metrics(dataset, &m));
    }
    let mut out: LossCounts = BTreeMap::new();
    for metric in metrics {
        for loss in attribute_losses(&rows, metric, &questions, &answers, retrieval.as_ref())? {
            *out.entry((loss.arm, metric))
                .or_default()
                .entry(loss.cause)
                .or_insert(0) += 1;
        }
    }
    Ok(out)
}

pub(super) fn attribution_table(
    a: &Analysis<'_>,
    dataset: &str,
    model: &str,
    losses: &LossCounts,
    blocks: &mut Vec<Block>,
) {
    let answered: BTreeSet<&str> = a.input.answers.iter().map(|x| x.arm.as_str()).collect();
    // Ordered by (context, N, seed) numerically, not by the arm name's spelling.
    let mut arms: Vec<(&finefail_core::ArmId, &String)> = a
        .arms
        .iter()
        .filter(|(name, x)| {
            x.dataset == dataset && x.model == model && x.n > 0 && answered.contains(name.as_str())
        })
        .map(|(name, x)| (x, name))
        .collect();
    arms.sort_by_key(|(x, _)| (CONTEXTS.iter().position(|c| *c == x.context), x.n, x.seed));
    let arms: Vec<&String> = arms.into_iter().map(|(_, name)| name).collect();
    if arms.is_empty() {
        return;
    }
    let mut rows = Vec::new();
    for metric in a.primary_metrics(dataset, model) {
        for arm in &arms {
            let counts = losses.get(&((*arm).clone(), metric));
            let get = |c: FailureCause| counts.and_then(|m| m.get(&c)).copied().unwrap_or(0);
            let total: usize = CAUSES.iter().map(|c| get(*c)).sum();
            let mut row = vec![(*arm).clone(), metric.to_string(), total.to_string()];
            row.extend(CAUSES.iter().map(|c| get(*c).to_string()));
            rows.push(row);
        }
    }
    blocks.push(Block::Para(
        "Failure attribution: questions each fine-tuned arm scored below the base arm, by most \
         likely cause (`retrieval_miss`: no gold document retrieved; `context_ignored`: answer not \
         supported by the retrieved chunks; `format_drift`: length changed more than 2× or the \
         yes/no/maybe word vanished; `other`). The per-question table `per_question.parquet` lists them."
            .into(),
    ));
    let mut header: Vec<String> = ["arm", "metric", "lost"].map(String::from).to_vec();
    header.extend(CAUSES.iter().map(|c| c.name().to_owned()));
    blocks.push(Block::Table { header, rows });
}

/// Shortens `text` to at most `max` characters, marking the cut with an ellipsis.
fn shorten(text: &str, max: usize) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let cut: String = one_line.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

/// How many regressions the report lists per (dataset, model).
const WORST: usize = 5;

pub(super) fn worst_regressions(
    a: &Analysis<'_>,
    dataset: &str,
    model: &str,
    metric: Metric,
    blocks: &mut Vec<Block>,
) {
    // (N, training format): one format per study unless `sweep.formats` names several.
    let ns: BTreeSet<(u64, Option<&str>)> = a
        .arms
        .values()
        .filter(|x| x.dataset == dataset && x.model == model && x.context.is_retrieved())
        .filter(|x| x.n > 0)
        .map(|x| (x.n, x.format.as_deref()))
        .collect();
    let mut drops: Vec<(f64, u64, String, f64, f64)> = Vec::new();
    for (n, format) in ns {
        let size = (n, format);
        for (q, base, ft) in a.paired_points(dataset, model, size, AnswerContext::Retrieved, metric)
        {
            if ft < base {
                drops.push((ft - base, n, q, base, ft));
            }
        }
    }
    if drops.is_empty() {
        return;
    }
    drops.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)).then(x.2.cmp(&y.2)));
    let questions = a.questions.get(dataset);
    let rows = drops
        .into_iter()
        .take(WORST)
        .map(|(d, n, q, base, ft)| {
            let text = questions
                .and_then(|qs| qs.get(&q))
                .map_or_else(String::new, |r| literal(&shorten(&r.question, 80)));
            vec![
                n.to_string(),
                literal(&q),
                text,
                num(base),
                num(ft),
                signed(d),
            ]
        })
        .collect();
    blocks.push(Block::Para(format!(
        "Largest regressions on {metric} (retrieved context; fine-tuned = mean over seeds). Every \
         question and arm, with answers and retrieved chunk ids, is in `per_question.parquet` \
         (sort by `{metric}_vs_base`)."
    )));
    blocks.push(Block::Table {
        header: ["N", "question id", "question", "base", "fine-tuned", "diff"]
            .map(String::from)
            .to_vec(),
        rows,
    });
}
