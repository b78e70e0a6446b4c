//! The names of every metric, exactly as they appear in `scores.parquet`, the report and `--set`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ScoreError;

/// One metric of docs/metrics.md; the enum keeps the spelling in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// SQuAD exact match after normalization (0/1), best over references.
    ExactMatch,
    /// SQuAD token F1, best over references.
    TokenF1,
    /// LCS-based F1 (beta = 1) over normalized tokens, best over references.
    RougeL,
    /// Share of reference tokens present in the answer (completeness proxy), best over references.
    AnswerRecall,
    /// First yes/no/maybe word of the answer equals the label (label questions only).
    LabelAccuracy,
    /// The label the arm's model finds likeliest as the answer's start (summed log-probability of
    /// its tokens after the same prompt, spellings `yes`/`Yes` added) is the gold label (0/1; label
    /// questions of local-model arms; issue 25): what the model knows, whatever it generates.
    LabelLlAccuracy,
    /// As [`Metric::LabelLlAccuracy`] with each label's log-probability divided by its length in
    /// characters (lm-eval's `acc_norm`).
    LabelLlAccuracyNorm,
    /// The answer says it does not know (0/1).
    Abstained,
    /// Share of the answer's content words found in the retrieved context.
    Faithfulness,
    /// Number of generated tokens (descriptive).
    AnswerTokens,
    /// LLM judge accuracy, 1–5.
    Accuracy,
    /// LLM judge completeness, 1–5.
    Completeness,
    /// Log-probability of `yes` (both spellings) as the answer's start, per label question: kept
    /// for audit in `scores.parquet`, never compared.
    LabelLlLogprobYes,
    /// Log-probability of `no`, as [`Metric::LabelLlLogprobYes`].
    LabelLlLogprobNo,
    /// Log-probability of `maybe`, as [`Metric::LabelLlLogprobYes`] (yes/no/maybe datasets).
    LabelLlLogprobMaybe,
}

impl Metric {
    /// Every metric, in report order.
    pub const ALL: [Metric; 15] = [
        Metric::ExactMatch,
        Metric::TokenF1,
        Metric::RougeL,
        Metric::AnswerRecall,
        Metric::LabelAccuracy,
        Metric::LabelLlAccuracy,
        Metric::LabelLlAccuracyNorm,
        Metric::Abstained,
        Metric::Faithfulness,
        Metric::AnswerTokens,
        Metric::Accuracy,
        Metric::Completeness,
        Metric::LabelLlLogprobYes,
        Metric::LabelLlLogprobNo,
        Metric::LabelLlLogprobMaybe,
    ];

    /// The canonical snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Metric::ExactMatch => "exact_match",
            Metric::TokenF1 => "token_f1",
            Metric::RougeL => "rouge_l",
            Metric::AnswerRecall => "answer_recall",
            Metric::LabelAccuracy => "label_accuracy",
            Metric::LabelLlAccuracy => "label_ll_accuracy",
            Metric::LabelLlAccuracyNorm => "label_ll_accuracy_norm",
            Metric::Abstained => "abstained",
            Metric::Faithfulness => "faithfulness",
            Metric::AnswerTokens => "answer_tokens",
            Metric::Accuracy => "accuracy",
            Metric::Completeness => "completeness",
            Metric::LabelLlLogprobYes => "label_ll_logprob_yes",
            Metric::LabelLlLogprobNo => "label_ll_logprob_no",
            Metric::LabelLlLogprobMaybe => "label_ll_logprob_maybe",
        }
    }

    /// Per-answer values are 0 or 1, so McNemar applies (with one seed and no judge repeats).
    pub fn is_binary(self) -> bool {
        matches!(
            self,
            Metric::ExactMatch
                | Metric::LabelAccuracy
                | Metric::LabelLlAccuracy
                | Metric::LabelLlAccuracyNorm
                | Metric::Abstained
        )
    }

    /// Produced by the LLM judge rather than computed from text.
    pub fn is_judge(self) -> bool {
        matches!(self, Metric::Accuracy | Metric::Completeness)
    }

    /// Reported with means and differences but never tested (no p, no verdict).
    pub fn is_descriptive(self) -> bool {
        matches!(self, Metric::AnswerTokens | Metric::Abstained)
    }

    /// Has `comparison.json` entries. The per-label log-probabilities are kept per question for
    /// audit only: a difference of log-probabilities between arms is no result of the study.
    pub fn is_compared(self) -> bool {
        !matches!(
            self,
            Metric::LabelLlLogprobYes | Metric::LabelLlLogprobNo | Metric::LabelLlLogprobMaybe
        )
    }

    /// May be a primary metric (`stats.primary`). The log-likelihood metrics never are: they are the
    /// exploratory half of a split of `label_accuracy`'s gain (knowledge vs format), not a verdict.
    pub fn may_be_primary(self) -> bool {
        self.is_compared() && !matches!(self, Metric::LabelLlAccuracy | Metric::LabelLlAccuracyNorm)
    }

    /// The per-question log-probability metric of `label` (`label_ll_logprob_yes`, …).
    pub fn label_ll_logprob(label: finefail_data::Label) -> Metric {
        match label {
            finefail_data::Label::Yes => Metric::LabelLlLogprobYes,
            finefail_data::Label::No => Metric::LabelLlLogprobNo,
            finefail_data::Label::Maybe => Metric::LabelLlLogprobMaybe,
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Metric {
    type Err = ScoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Metric::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                let known: Vec<_> = Metric::ALL.iter().map(|m| m.name()).collect();
                ScoreError::BadInput(format!(
                    "unknown metric `{s}` (known: {})",
                    known.join(", ")
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_design() {
        let names: Vec<_> = Metric::ALL.iter().map(|m| m.to_string()).collect();
        assert_eq!(
            names,
            [
                "exact_match",
                "token_f1",
                "rouge_l",
                "answer_recall",
                "label_accuracy",
                "label_ll_accuracy",
                "label_ll_accuracy_norm",
                "abstained",
                "faithfulness",
                "answer_tokens",
                "accuracy",
                "completeness",
                "label_ll_logprob_yes",
                "label_ll_logprob_no",
                "label_ll_logprob_maybe"
            ]
        );
        for m in Metric::ALL {
            assert_eq!(m.name().parse::<Metric>().ok(), Some(m));
            assert_eq!(serde_json::to_string(&m).ok(), Some(format!("\"{m}\"")));
        }
        let err = "f1".parse::<Metric>().err().map(|e| e.is_bad_input());
        assert_eq!(err, Some(true));
    }
}
