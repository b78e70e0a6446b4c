//! Recognising an abstention ("I don't know."), the correct answer to an unanswerable question.

use crate::normalize::normalize_answer;

/// The constant answer the system line asks for when the context does not say (DESIGN.md).
pub const ABSTENTION: &str = "I don't know.";

/// Normalized phrases that count as an abstention when the answer is exactly the phrase or starts
/// with it followed by more words ("I don't know. The context does not …"). Kept short on purpose:
/// the model is asked for [`ABSTENTION`]; these cover its usual paraphrases.
pub const ABSTENTION_PREFIXES: &[&str] = &[
    "i dont know",
    "i do not know",
    "dont know",
    "i am not sure",
    "im not sure",
    "i cannot answer",
    "i cant answer",
    "cannot be determined",
];

/// Normalized answers that count as an abstention only when they are the whole answer
/// ("Unknown." abstains; "The unknown soldier" does not).
pub const ABSTENTION_EXACT: &[&str] = &["unknown", "unanswerable", "no answer", "not known"];

/// Normalized phrases that count as an abstention anywhere in the answer: explicit statements that
/// the context lacks the answer.
pub const ABSTENTION_PHRASES: &[&str] = &[
    "context does not provide",
    "context does not mention",
    "context does not say",
    "context does not contain",
    "not mentioned in context",
    "not provided in context",
];

/// True when the answer declines to answer: the constant, a listed prefix, a listed whole answer,
/// or a listed phrase.
pub fn abstained(answer: &str) -> bool {
    let norm = normalize_answer(answer);
    let padded = format!(" {norm} ");
    ABSTENTION_EXACT.contains(&norm.as_str())
        || ABSTENTION_PREFIXES
            .iter()
            .any(|p| norm == *p || norm.starts_with(&format!("{p} ")))
        || ABSTENTION_PHRASES
            .iter()
            .any(|p| padded.contains(&format!(" {p} ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_constant_and_variants() {
        assert!(abstained(ABSTENTION));
        assert!(abstained("i dont know"));
        assert!(abstained("I do not know. The passage is about cats."));
        assert!(abstained("Unknown"));
        assert!(abstained("Sorry, the context does not mention the year."));
        assert!(abstained("This is not mentioned in the context."));
    }

    #[test]
    fn ordinary_answers_are_not_abstentions() {
        assert!(!abstained("Denver Broncos"));
        assert!(!abstained("The unknown soldier"));
        assert!(!abstained("I know: it is 1976."));
        assert!(!abstained(""));
        assert!(!abstained("no"));
    }
}
