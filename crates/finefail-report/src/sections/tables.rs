//! The metric tables of a (dataset, model): one row per N (per format when the study names several,
//! and the in-context arm `icl{K}`) with the comparison's numbers against N = 0, and the baselines
//! (closed book, gold context, majority label).

use finefail_core::AnswerContext;
use finefail_score::{Comparison, ComparisonKind, Metric};

use super::verdict_word;
use crate::analysis::{base_arm, Analysis};
use crate::document::Block;
use crate::format::{ci_header, interval, num, opt_num, p_value, p_value_at, signed, MISSING};

fn comparison_row(c: &Comparison, alpha: f64) -> Vec<String> {
    let verdict = match c.verdict {
        Some(v) => verdict_word(v).to_owned(),
        None if c.metric.is_descriptive() => "descriptive".to_owned(),
        None => "exploratory".to_owned(),
    };
    let p_holm = if c.primary {
        p_value_at(c.p_holm, alpha)
    } else {
        MISSING.to_owned()
    };
    let seed_means: Vec<String> = c.seed_means.iter().map(|m| num(*m)).collect();
    let seeds: Vec<String> = c.seeds.iter().map(u64::to_string).collect();
    vec![
        c.metric.to_string(),
        crate::sides::treated(c),
        num(c.ft_mean),
        signed(c.diff),
        interval(c.ci_low, c.ci_high),
        p_value(c.p),
        p_holm,
        verdict,
        opt_num(c.mde),
        seed_means.join(", "),
        opt_num(c.seed_sd),
        opt_num(c.judge_sd),
        seeds.join(", "),
        c.questions.to_string(),
    ]
}

pub(super) fn metric_table(
    a: &Analysis<'_>,
    dataset: &str,
    model: &str,
    context: AnswerContext,
    metrics: &[Metric],
) -> Option<Block> {
    let alpha = a.input.comparison.alpha;
    let mut rows = Vec::new();
    for &metric in metrics {
        let mut entries: Vec<&Comparison> = a
            .comparisons(dataset, Some(model))
            .into_iter()
            .filter(|c| c.context == context && c.metric == metric)
            .collect();
        entries.sort_by_key(|c| (c.n, c.format.clone()));
        let base_name = base_arm(dataset, model, context);
        let base_mean = entries
            .first()
            .map(|c| c.base_mean)
            .or_else(|| a.arm_mean(&base_name, metric));
        if let Some(b) = base_mean {
            // The questions the printed mean covers: the paired ones when it comes from a
            // comparison, else every question the base arm was scored on.
            let questions = entries.first().map_or_else(
                || a.arm_values(&base_name, metric).map_or(0, |v| v.len()),
                |c| c.questions,
            );
            let mut row = vec![metric.to_string(), "0".into(), num(b)];
            row.extend(std::iter::repeat_n(MISSING.to_owned(), 10));
            row.push(questions.to_string());
            rows.push(row);
        }
        // The in-context arm (`icl{K}`, also against N = 0) between the base model and the sizes.
        rows.extend(
            a.input
                .comparison
                .comparisons
                .iter()
                .filter(|c| c.kind == ComparisonKind::VsIcl && c.n == 0)
                .filter(|c| c.dataset == dataset && c.model == model)
                .filter(|c| c.context == context && c.metric == metric)
                .map(|c| comparison_row(c, alpha)),
        );
        rows.extend(entries.into_iter().map(|c| comparison_row(c, alpha)));
    }
    (!rows.is_empty()).then(|| Block::Table {
        header: [
            "metric",
            "N",
            "mean",
            "diff vs N=0",
            ci_header(1.0 - alpha).as_str(),
            "p",
            "p (Holm)",
            "verdict",
            "MDE",
            "seed means",
            "seed sd",
            "judge sd",
            "seeds",
            "questions",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    })
}

pub(super) fn baselines(
    a: &Analysis<'_>,
    dataset: &str,
    model: &str,
    primary: &[Metric],
    blocks: &mut Vec<Block>,
) {
    let mut rows = Vec::new();
    // Which kinds of baseline rows exist: the text promises only those.
    let (mut closed_book, mut gold, mut base_only, mut constant) = (false, false, false, false);
    for (ctx, label) in [
        (
            AnswerContext::Retrieved,
            "base model, retrieved context (n0)",
        ),
        (AnswerContext::None, "closed book (n0@none)"),
        (AnswerContext::Gold, "gold context (n0@gold)"),
    ] {
        let arm = base_arm(dataset, model, ctx);
        if !a.arms.contains_key(&arm) {
            continue;
        }
        closed_book |= ctx == AnswerContext::None;
        gold |= ctx == AnswerContext::Gold;
        let mut row = vec![label.to_owned()];
        row.extend(
            primary
                .iter()
                .map(|m| a.arm_mean(&arm, *m).map_or(MISSING.to_owned(), num)),
        );
        rows.push(row);
    }
    // Models of the dataset that were never fine-tuned (an API answerer such as the paper's
    // GPT-4): their base arms answered the same questions from the same chunks.
    for other in base_only_models(a, dataset).iter().filter(|m| *m != model) {
        for (ctx, label) in [
            (AnswerContext::Retrieved, "retrieved context"),
            (AnswerContext::None, "closed book"),
            (AnswerContext::Gold, "gold context"),
        ] {
            let arm = base_arm(dataset, other, ctx);
            if !a.arms.contains_key(&arm) {
                continue;
            }
            base_only = true;
            let mut row = vec![format!("base-only model `{other}`, {label}")];
            row.extend(
                primary
                    .iter()
                    .map(|m| a.arm_mean(&arm, *m).map_or(MISSING.to_owned(), num)),
            );
            rows.push(row);
        }
    }
    if a.is_label_dataset(dataset) {
        if let Some((label, share, _)) = a.majority_label(dataset) {
            constant = true;
            let mut row = vec![format!("majority label (`{}`)", label.as_str())];
            row.extend(primary.iter().map(|m| {
                if *m == Metric::LabelAccuracy {
                    num(share)
                } else {
                    MISSING.to_owned()
                }
            }));
            rows.push(row);
        }
    }
    if rows.len() < 2 {
        return;
    }
    blocks.push(Block::Para(baselines_text(
        closed_book,
        gold,
        base_only,
        constant,
    )));
    let mut header = vec!["baseline".to_owned()];
    header.extend(primary.iter().map(Metric::to_string));
    blocks.push(Block::Table { header, rows });
}

/// The paragraph above the Baselines table, naming only the kinds of rows it has: closed-book and
/// gold-context rows exist only when `eval.contexts` asked for them, so the text says so instead of
/// promising them.
fn baselines_text(closed_book: bool, gold: bool, base_only: bool, constant: bool) -> String {
    let mut what = Vec::new();
    match (closed_book, gold) {
        (true, true) => what.push("what the base model does without context (closed book) and with perfect retrieval (gold context)"),
        (true, false) => what.push("what the base model does without context (closed book)"),
        (false, true) => what.push("what the base model does with perfect retrieval (gold context)"),
        (false, false) => {}
    }
    if base_only {
        what.push(
            "what a model that was never fine-tuned (a base-only model, e.g. an API answerer) \
             scores on the same questions and chunks",
        );
    }
    if constant {
        what.push("what a constant answer (the majority label) scores");
    }
    let mut text = format!(
        "Baselines (means over each arm's scored questions): {}.",
        what.join("; ")
    );
    if !(closed_book && gold) {
        text.push_str(match (closed_book, gold) {
            (false, false) => {
                " Closed-book and gold-context rows appear when `eval.contexts` includes `none` \
                 and `gold`; this run answered with neither."
            }
            (false, true) => " A closed-book row appears when `eval.contexts` includes `none`.",
            _ => " A gold-context row appears when `eval.contexts` includes `gold`.",
        });
    }
    text
}

/// Models of `dataset` with no fine-tuned arm and no comparison: answerers that are never
/// fine-tuned (`[[models]] kind = "api"`), shown as baselines beside the fine-tuned models.
pub(super) fn base_only_models(a: &Analysis<'_>, dataset: &str) -> Vec<String> {
    a.models(dataset)
        .into_iter()
        .filter(|m| {
            a.comparisons(dataset, Some(m)).is_empty()
                && !a
                    .arms
                    .values()
                    .any(|x| x.dataset == dataset && &x.model == m && x.n > 0)
        })
        .collect()
}
