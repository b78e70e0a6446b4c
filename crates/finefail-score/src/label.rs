//! Label accuracy for yes/no/maybe datasets (PubMedQA, BoolQ): the first label word of the answer.

use finefail_data::normalize::words;

/// The label vocabulary of label datasets.
pub const LABELS: [&str; 3] = ["yes", "no", "maybe"];

/// The first normalized token of the answer that is a label word, if any.
///
/// "Yes, because …" → `yes`; "It is unclear; maybe." → `maybe`; no label word → `None`.
pub fn first_label(answer: &str) -> Option<&'static str> {
    words(answer)
        .iter()
        .find_map(|t| LABELS.iter().copied().find(|l| *l == t))
}

/// 1 when the answer's first label word equals the gold label (case-insensitive), else 0; an answer
/// without a label word counts as wrong.
pub fn label_accuracy(answer: &str, label: &str) -> f64 {
    let gold = label.trim().to_lowercase();
    f64::from(u8::from(first_label(answer) == Some(gold.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_label_word_counts() {
        assert_eq!(first_label("Yes, because the trial shows it."), Some("yes"));
        assert_eq!(first_label("The answer is no; maybe later."), Some("no"));
        assert_eq!(first_label("Nope."), None);
        assert_eq!(label_accuracy("Maybe.", "maybe"), 1.0);
        assert_eq!(label_accuracy("Maybe.", "Yes"), 0.0);
        assert_eq!(label_accuracy("It depends", "no"), 0.0);
        assert_eq!(label_accuracy("YES", " yes "), 1.0);
    }
}
