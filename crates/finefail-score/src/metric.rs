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
}

impl Metric {
    /// Every metric, in report order.
    pub const ALL: [Metric; 10] = [
        Metric::ExactMatch,
        Metric::TokenF1,
        Metric::RougeL,
        Metric::AnswerRecall,
        Metric::LabelAccuracy,
        Metric::Abstained,
        Metric::Faithfulness,
        Metric::AnswerTokens,
        Metric::Accuracy,
        Metric::Completeness,
    ];

    /// The canonical snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Metric::ExactMatch => "exact_match",
            Metric::TokenF1 => "token_f1",
            Metric::RougeL => "rouge_l",
            Metric::AnswerRecall => "answer_recall",
            Metric::LabelAccuracy => "label_accuracy",
            Metric::Abstained => "abstained",
            Metric::Faithfulness => "faithfulness",
            Metric::AnswerTokens => "answer_tokens",
            Metric::Accuracy => "accuracy",
            Metric::Completeness => "completeness",
        }
    }

    /// Per-answer values are 0 or 1, so McNemar applies (with one seed and no judge repeats).
    pub fn is_binary(self) -> bool {
        matches!(
            self,
            Metric::ExactMatch | Metric::LabelAccuracy | Metric::Abstained
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
                "abstained",
                "faithfulness",
                "answer_tokens",
                "accuracy",
                "completeness"
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
