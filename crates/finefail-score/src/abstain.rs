//! Recognising an abstention ("I don't know."), the correct answer to an unanswerable question.

use finefail_data::normalize::normalize;

/// The constant answer the system line asks for when the context does not say (docs/metrics.md).
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
/// or a listed phrase. A prefix counts only when its first sentence does not go on to answer
/// anyway: "I am not sure, but it is X." and "I don't know, but probably X" are answers (hedged),
/// "I don't know. The passage is about cats." is an abstention.
pub fn abstained(answer: &str) -> bool {
    let norm = normalize(answer);
    let padded = format!(" {norm} ");
    ABSTENTION_EXACT.contains(&norm.as_str())
        || declines_then_stops(answer)
        || ABSTENTION_PHRASES
            .iter()
            .any(|p| padded.contains(&format!(" {p} ")))
}

/// Words after which a declining prefix turns into a hedged answer.
const HEDGE_TURNS: &[&str] = &[
    "but", "though", "however", "perhaps", "maybe", "probably", "i think",
];

/// The answer starts with a listed prefix and its first sentence does not turn into an answer.
fn declines_then_stops(answer: &str) -> bool {
    let first = answer
        .split(['.', '!', '?', ';', '\n'])
        .find(|s| !s.trim().is_empty())
        .unwrap_or("");
    let first = normalize(first);
    ABSTENTION_PREFIXES.iter().any(|p| {
        let Some(rest) = first.strip_prefix(p) else {
            return false;
        };
        if !(rest.is_empty() || rest.starts_with(' ')) {
            return false;
        }
        let rest = format!(" {} ", rest.trim());
        !HEDGE_TURNS.iter().any(|t| rest.contains(&format!(" {t} ")))
    })
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

    #[test]
    fn a_hedged_answer_is_an_answer() {
        assert!(!abstained("I am not sure, but it is Paris."));
        assert!(!abstained("I'm not sure but I think the answer is 1976"));
        assert!(!abstained("I don't know, but probably the Nile."));
        assert!(abstained("I am not sure."));
        assert!(abstained("I'm not sure. The context does not say."));
        assert!(abstained("I don't know the answer."));
    }
}
