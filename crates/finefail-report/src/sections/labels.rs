//! For a label (yes/no/maybe) dataset: per arm, how many answers contain a label at all and how
//! accurate those are — so a *helps* can be told apart from format learning (a fine-tuned arm that
//! merely starts answering with a label word).

use finefail_score::first_label;

use crate::analysis::Analysis;
use crate::document::Block;
use crate::format::{num, percent, MISSING};

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
         (yes / no / maybe; every arm's prompt names them), and the accuracy among those. A \
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
}
