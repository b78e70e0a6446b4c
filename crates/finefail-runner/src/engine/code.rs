//! A step's code version, `{finefail version}+{fingerprint}` (`0.1.0+3f9a0c21`): which code made
//! a step's output, recorded in its record (`code_version`) beside the input hash. The input hash
//! covers the config and the inputs; this covers the code — the prompt templates, scoring rules
//! and training format that decide what a step of that kind writes. A done step whose recorded
//! code version differs from the running binary's is stale and reruns, and `--status` says so
//! (`stale: code 0.1.0+3f9a0c21 → 0.1.0+77d2e5b0`).
//!
//! The fingerprint is a sha256 over the kind, its hand-kept [`revision`] and the constants of
//! [`code_inputs`] (prompt lines, the abstention answer, judge prompt version, scoring thresholds,
//! the training order's salts): changing one of those reruns exactly the kinds that use it, in
//! every run folder. Code changes that no constant shows (a scorer's rule, the training loop, a
//! table's columns) bump the kind's revision. The finefail version is part of the string, so a
//! release reruns every kind: code between releases that no fingerprint covers cannot outlive one.
//!
//! Records written before records carried a code version are taken to have been written by
//! [`LEGACY`]: each kind's code version at the change that introduced it. They stay cached while a
//! kind's code is what it was then — no rerun of a finished study just for upgrading — and go stale
//! like any other record at the first change of that kind's code. That is as safe as the cache was
//! before (such a record was trusted then too) and no safer: a record made by code older than that
//! change, under a prompt that has changed since, is not caught (delete the run folder's `steps/`
//! entries, or use a new run name, to redo it).

use crate::kind::StepKind;
use sha2::{Digest, Sha256};

/// Bump a kind's revision when its code changes what its steps write in a way that the constants
/// of [`code_inputs`] do not show: its recorded steps then rerun in every run folder.
fn revision(kind: StepKind) -> u32 {
    match kind {
        // 2: `splits.json` no longer stores training orders (computed on demand per seed), so a
        // prepared dataset does not depend on the sweep's seeds (issue 26).
        StepKind::Prepare => 2,
        StepKind::Retrieve | StepKind::Finetune => 1,
        // 2: label questions scored by log-likelihood, `label_ll.parquet` (issue 25: label
        // log-likelihood).
        // 3: one-token labels scored from the generation's first step instead of a pass of
        // their own (the same distribution, equal up to float rounding; `ms` 0 for them).
        StepKind::Answer => 3,
        // 2: `label_ll_accuracy`, `label_ll_accuracy_norm` and the per-label log-probabilities
        // (issue 25: label log-likelihood).
        StepKind::Score => 2,
        // 2: per-(dataset, model, context) Holm families, one-adapter verdicts, vs_previous
        // comparisons and trends (issue 24).
        // 3: the MDE of the pivot itself with several seeds, and each entry's variance components.
        StepKind::Compare => 3,
        // 3: the forest plot and the findings before the reading guide.
        // 4: exploratory metrics apart, the majority-label line, the validation-loss flag.
        // 5: the steps kept by `--keep-stale`, recall@k on the test questions, Baselines text
        // naming only the rows that ran (issue 26).
        // 6: the answer-format text says each prompt names its dataset's labels (issue 26).
        // 7: the knowledge-or-format split of a label-accuracy gain beside the answer-format
        // table (issue 25: label log-likelihood).
        // 8: each model's in-context arm as a dotted line on the metric-vs-N curves;
        // `per_question` gains `format` and `icl_shots`.
        StepKind::Report => 8,
    }
}

/// The constants that decide what a step of `kind` writes, as text.
fn code_inputs(kind: StepKind) -> Vec<String> {
    use finefail_data::LabelSet;
    use finefail_rag::rag_prompt::{label_instruction, SYSTEM_CLOSED_BOOK, SYSTEM_WITH_CONTEXT};
    let rag_prompt = [
        SYSTEM_WITH_CONTEXT.to_string(),
        SYSTEM_CLOSED_BOOK.to_string(),
        label_instruction(LabelSet::YesNo),
        label_instruction(LabelSet::YesNoMaybe),
    ];
    match kind {
        StepKind::Prepare => vec![
            finefail_data::ABSTENTION.into(),
            finefail_data::shuffle::SPLIT_STREAM.to_string(),
            finefail_data::shuffle::TRAIN_STREAM.to_string(),
            finefail_data::contamination::NGRAM.to_string(),
            finefail_data::contamination::JACCARD_THRESHOLD.to_string(),
        ],
        StepKind::Retrieve | StepKind::Report => Vec::new(),
        StepKind::Finetune => {
            let mut v = rag_prompt.to_vec();
            v.extend([
                finefail_data::ABSTENTION.into(),
                finefail_train::batching::SHUFFLE_SALT.to_string(),
                finefail_train::batching::DROPOUT_SALT.to_string(),
                finefail_train::batching::WINDOW_BATCHES.to_string(),
            ]);
            v
        }
        StepKind::Answer => rag_prompt.to_vec(),
        StepKind::Score => {
            let mut v = vec![
                finefail_score::JUDGE_PROMPT_VERSION.into(),
                finefail_score::ABSTENTION.into(),
                finefail_score::FAITHFULNESS_THRESHOLD.to_string(),
                finefail_score::LENGTH_RATIO.to_string(),
            ];
            for list in [
                finefail_score::ABSTENTION_PREFIXES,
                finefail_score::ABSTENTION_EXACT,
                finefail_score::ABSTENTION_PHRASES,
                finefail_score::STOPWORDS,
                &finefail_score::LABELS[..],
            ] {
                v.push(list.join("\u{1f}"));
            }
            v
        }
        StepKind::Compare => vec![
            finefail_score::MIN_BOOTSTRAP.to_string(),
            finefail_score::TRAINING_VARIANCE_ASSESSED.into(),
            finefail_score::TRAINING_VARIANCE_NOT_ASSESSED.into(),
        ],
    }
}

/// The code version of this binary for steps of `kind`: `{finefail version}+{8 hex digits}`.
pub fn code_version(kind: StepKind) -> String {
    let mut h = Sha256::new();
    h.update(kind.as_str().as_bytes());
    h.update(revision(kind).to_le_bytes());
    for input in code_inputs(kind) {
        h.update(b"\0");
        h.update(input.as_bytes());
    }
    let digest = hex::encode(h.finalize());
    format!("{}+{}", env!("CARGO_PKG_VERSION"), &digest[..8])
}

/// Each kind's code version when records began to carry one (finefail 0.1.0, December 2026):
/// what a record without `code_version` is taken to have been written by. Never updated when the
/// code changes — that is what makes such records stale (see the module doc).
pub const LEGACY: [(StepKind, &str); 7] = [
    (StepKind::Prepare, "0.1.0+a2295ae3"),
    (StepKind::Retrieve, "0.1.0+e546d150"),
    (StepKind::Finetune, "0.1.0+f9b52979"),
    (StepKind::Answer, "0.1.0+3495198e"),
    (StepKind::Score, "0.1.0+0618ad98"),
    (StepKind::Compare, "0.1.0+5e92cc75"),
    (StepKind::Report, "0.1.0+854d135d"),
];

/// The code version a record of `kind` was written by: its own, else the kind's `LEGACY` one
/// (a record from before records carried one).
pub fn recorded_code_version(kind: StepKind, recorded: Option<&str>) -> &str {
    recorded.unwrap_or_else(|| {
        LEGACY
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or("", |(_, v)| v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_version_of_its_own_and_a_legacy_one() {
        let versions: std::collections::BTreeSet<String> =
            StepKind::ALL.iter().map(|k| code_version(*k)).collect();
        assert_eq!(versions.len(), StepKind::ALL.len());
        for kind in StepKind::ALL {
            let v = code_version(kind);
            let (version, digest) = v.split_once('+').unwrap();
            assert_eq!(version, env!("CARGO_PKG_VERSION"));
            assert!(digest.len() == 8 && digest.chars().all(|c| c.is_ascii_hexdigit()));
            assert_eq!(code_version(kind), v, "deterministic");
            assert!(LEGACY.iter().any(|(k, _)| *k == kind));
            assert_eq!(recorded_code_version(kind, Some("x")), "x");
            assert!(recorded_code_version(kind, None).starts_with("0.1.0+"));
        }
    }

    /// The answer and finetune kinds read the RAG prompt; prepare does not.
    #[test]
    fn a_prompt_line_is_an_input_of_the_kinds_that_use_it() {
        let has = |kind, s: &str| code_inputs(kind).iter().any(|i| i == s);
        for labels in [
            finefail_data::LabelSet::YesNo,
            finefail_data::LabelSet::YesNoMaybe,
        ] {
            let line = &finefail_rag::rag_prompt::label_instruction(labels);
            assert!(has(StepKind::Answer, line) && has(StepKind::Finetune, line));
            assert!(!has(StepKind::Prepare, line) && !has(StepKind::Score, line));
        }
        assert!(has(StepKind::Score, finefail_score::JUDGE_PROMPT_VERSION));
    }
}
