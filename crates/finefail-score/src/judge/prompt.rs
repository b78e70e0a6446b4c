//! The judge's rubric prompt (versioned) and the strict parsing of its JSON reply.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Version of the rubric below; part of the cache key and of the `judge` column, so changing the
/// wording must change this.
pub const JUDGE_PROMPT_VERSION: &str = "judge-v1";

const SYSTEM: &str = "You are a strict grader of answers to questions. You compare a candidate \
answer with the reference answer(s) and reply with JSON only.";

const RUBRIC: &str = "Score the candidate answer against the reference answer(s).\n\
accuracy (1-5): 5 = everything the candidate states agrees with the references; 3 = partly right, \
partly wrong or vague; 1 = wrong or contradicts the references. An answer saying it does not know \
scores 1 unless the references say the question cannot be answered, in which case it scores 5.\n\
completeness (1-5): 5 = covers everything essential in the references; 3 = covers about half; \
1 = covers none of it.\n\
Judge meaning, not wording. Reply with exactly one JSON object and nothing else: \
{\"accuracy\": <integer 1-5>, \"completeness\": <integer 1-5>}";

/// Reminder sent after a malformed reply (the re-ask).
pub const REASK: &str = "Your reply was not valid. Reply with exactly one JSON object and nothing \
else: {\"accuracy\": <integer 1-5>, \"completeness\": <integer 1-5>}";

/// One judgment: the two rubric scores, each 1–5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Judgment {
    /// Agreement with the references, 1–5.
    pub accuracy: u8,
    /// Coverage of the references, 1–5.
    pub completeness: u8,
}

/// The chat messages for one judgment. The arm is never shown (the judge is blind to it).
pub fn judge_messages(question: &str, references: &[String], answer: &str) -> Vec<Value> {
    let refs = if references.is_empty() {
        "(none: the question cannot be answered from the source; the correct answer is to say so)"
            .to_owned()
    } else {
        references
            .iter()
            .enumerate()
            .map(|(i, r)| format!("{}. {r}", i + 1))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let user = format!(
        "{RUBRIC}\n\nQuestion:\n{question}\n\nReference answer(s):\n{refs}\n\nCandidate answer:\n{answer}"
    );
    vec![
        json!({"role": "system", "content": SYSTEM}),
        json!({"role": "user", "content": user}),
    ]
}

/// Parses a reply strictly: one JSON object (optionally inside a ```json fence) with integer
/// `accuracy` and `completeness` in 1..=5. Anything else is an error message for the re-ask.
pub fn parse_judgment(content: &str) -> Result<Judgment, String> {
    let trimmed = content.trim();
    let body = trimmed
        .strip_prefix("```json")
        .or_else(|| trimmed.strip_prefix("```"))
        .and_then(|s| s.strip_suffix("```"))
        .unwrap_or(trimmed)
        .trim();
    let v: Value =
        serde_json::from_str(body).map_err(|_| format!("malformed reply: {}", snippet(content)))?;
    let score = |key: &str| -> Result<u8, String> {
        let x = v
            .get(key)
            .and_then(Value::as_f64)
            .ok_or_else(|| format!("reply lacks integer `{key}`: {}", snippet(content)))?;
        if x.fract() == 0.0 && (1.0..=5.0).contains(&x) {
            Ok(x as u8)
        } else {
            Err(format!("`{key}` = {x} is not an integer in 1..5"))
        }
    };
    Ok(Judgment {
        accuracy: score("accuracy")?,
        completeness: score("completeness")?,
    })
}

/// The first 120 characters of a reply, for error messages.
pub(crate) fn snippet(s: &str) -> String {
    let mut out: String = s.chars().take(120).collect();
    if s.chars().count() > 120 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_strict_json() {
        assert_eq!(
            parse_judgment(r#" {"accuracy": 4, "completeness": 2} "#),
            Ok(Judgment {
                accuracy: 4,
                completeness: 2
            })
        );
        assert_eq!(
            parse_judgment("```json\n{\"completeness\": 5, \"accuracy\": 5.0}\n```"),
            Ok(Judgment {
                accuracy: 5,
                completeness: 5
            })
        );
    }

    #[test]
    fn rejects_anything_else() {
        for bad in [
            "Accuracy: 4",
            r#"{"accuracy": 4}"#,
            r#"{"accuracy": 0, "completeness": 3}"#,
            r#"{"accuracy": 6, "completeness": 3}"#,
            r#"{"accuracy": 3.5, "completeness": 3}"#,
            r#"{"accuracy": "4", "completeness": 3}"#,
            r#"Sure! {"accuracy": 4, "completeness": 3}"#,
            "",
        ] {
            assert!(parse_judgment(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn prompt_is_blind_and_carries_references() {
        let m = judge_messages(
            "Who won?",
            &["Denver".into(), "The Broncos".into()],
            "Denver",
        );
        let user = m[1]["content"].as_str().unwrap_or("");
        assert!(user.contains("1. Denver\n2. The Broncos"));
        assert!(user.contains("Candidate answer:\nDenver"));
        let none = judge_messages("Q?", &[], "I don't know.");
        assert!(none[1]["content"]
            .as_str()
            .unwrap_or("")
            .contains("cannot be answered"));
    }
}
