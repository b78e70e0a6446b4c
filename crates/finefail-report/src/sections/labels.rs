//! For a label (yes/no/maybe) dataset: per arm, how many answers contain a label at all and how
//! accurate those are — so a *helps* can be told apart from format learning (a fine-tuned arm that
//! merely starts answering with a label word). Beside it, when the label log-likelihood metrics
//! exist (issue 25), the gain in generated label accuracy split into what the log-likelihood shows
//! too (knowledge) and the rest (format).

use std::collections::BTreeMap;

use finefail_core::AnswerContext;
use finefail_score::{first_label, Comparison, Metric};

use crate::analysis::Analysis;
use crate::document::Block;
use crate::format::{num, percent, signed, MISSING};

/// The label-format table of (dataset, model): one row per arm, base arms first.
pub(super) fn label_format_table(
    a: &Analysis<'_>,
    dataset: &str,
    model: &str,
    blocks: &mut Vec<Block>,
) {
    if !a.is_label_dataset(dataset) {
        return;
    }
    let Some(questions) = a.questions.get(dataset) else {
        return;
    };
    let mut arms: Vec<(&String, u64, Option<u64>)> = a
        .arms
        .iter()
        .filter(|(_, x)| x.dataset == dataset && x.model == model)
        .map(|(name, x)| (name, x.n, x.seed))
        .collect();
    arms.sort_by_key(|(name, n, seed)| (*n, *seed, (*name).clone()));
    let mut rows = Vec::new();
    for (arm, _, _) in arms {
        let (mut answers, mut with_label, mut correct) = (0usize, 0usize, 0usize);
        for ans in a.input.answers.iter().filter(|x| &x.arm == arm) {
            let Some(gold) = questions.get(&ans.question_id).and_then(|q| q.label) else {
                continue;
            };
            answers += 1;
            if let Some(said) = first_label(&ans.answer) {
                with_label += 1;
                correct += usize::from(said == gold.as_str());
            }
        }
        if answers == 0 {
            continue;
        }
        let accuracy = if with_label == 0 {
            MISSING.to_owned()
        } else {
            num(correct as f64 / with_label as f64)
        };
        rows.push(vec![
            arm.clone(),
            answers.to_string(),
            percent(with_label as f64 / answers as f64),
            accuracy,
        ]);
    }
    if rows.is_empty() {
        return;
    }
    blocks.push(Block::Para(
        "Answer format (label questions): the share of each arm's answers that contain a label \
         (a yes, no or maybe word; every arm's prompt names its dataset's labels: maybe only \
         where the dataset uses it), and the accuracy among those. A \
         fine-tuned arm that gains label accuracy only through the first column learnt the format, \
         not the task."
            .into(),
    ));
    blocks.push(Block::Table {
        header: ["arm", "answers", "with a label", "accuracy among those"]
            .map(String::from)
            .to_vec(),
        rows,
    });
    knowledge_and_format_table(a, dataset, model, blocks);
}

/// The split of a label-accuracy gain: per fine-tuned size (seeds averaged, as `comparison.json`'s
/// `vs_base` entries are), the generated gain Δ `label_accuracy`, the part the log-likelihood also
/// shows (Δ `label_ll_accuracy`: knowledge) and the rest (format). Nothing without the
/// log-likelihood comparisons (API arms, runs from before issue 25).
fn knowledge_and_format_table(
    a: &Analysis<'_>,
    dataset: &str,
    model: &str,
    blocks: &mut Vec<Block>,
) {
    // (the context's place in `AnswerContext::ALL`, the study's own first; format; N)
    type Key = (usize, Option<String>, u64);
    let mut generated: BTreeMap<Key, &Comparison> = BTreeMap::new();
    let mut knowledge: BTreeMap<Key, &Comparison> = BTreeMap::new();
    for c in a.comparisons(dataset, Some(model)) {
        let place = AnswerContext::ALL
            .iter()
            .position(|x| *x == c.context)
            .unwrap_or(0);
        let key = (place, c.format.clone(), c.n);
        match c.metric {
            Metric::LabelAccuracy => generated.insert(key, c),
            Metric::LabelLlAccuracy => knowledge.insert(key, c),
            _ => None,
        };
    }
    let rows: Vec<Vec<String>> = generated
        .iter()
        .filter_map(|(key, g)| {
            let k = knowledge.get(key)?;
            let (context, format, n) = key;
            let size = match format {
                Some(f) => format!("{n} ({f})"),
                None => n.to_string(),
            };
            Some(vec![
                size,
                AnswerContext::ALL[*context].as_str().to_owned(),
                g.seeds.len().to_string(),
                signed(g.diff),
                signed(k.diff),
                signed(g.diff - k.diff),
            ])
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    blocks.push(Block::Para(
        "Knowledge or format (exploratory): the gain in generated label accuracy over N = 0 \
         (seeds averaged), the part of it that the label log-likelihood shows too (Δ \
         label_ll_accuracy: the model now ranks the right label first when only its probabilities \
         are read, the same prompt and adapter) and the rest. Read a gain that sits mostly in the \
         last column as format: the base model already knew the label but did not say it in a way \
         the label metric reads."
            .into(),
    ));
    blocks.push(Block::Table {
        header: [
            "N",
            "context",
            "seeds",
            "generated gain (Δ label_accuracy)",
            "knowledge (Δ label_ll_accuracy)",
            "format (the rest)",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    });
}
