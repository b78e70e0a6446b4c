//! Reference-based lexical metrics: exact match, token F1, ROUGE-L and answer recall.
//!
//! All work on SQuAD-normalized tokens ([`finefail_data::normalize::normalize`]) and take the best value over the
//! references, as SQuAD does. With no reference at all they return 0; an unanswerable question is
//! handled one level up ([`crate::score_answer`]), where an abstention is the correct answer.

use std::collections::HashMap;

use finefail_data::normalize::{normalize, words};

/// SQuAD exact match: 1 when the normalized answer equals a normalized reference, else 0.
pub fn exact_match(answer: &str, references: &[String]) -> f64 {
    let a = normalize(answer);
    best(references, |r| f64::from(u8::from(normalize(r) == a)))
}

/// SQuAD token F1 (harmonic mean of token precision and recall, multiset overlap), best over references.
///
/// When the answer or a reference normalizes to nothing, the SQuAD v2 rule applies: 1 if both are
/// empty, else 0.
pub fn token_f1(answer: &str, references: &[String]) -> f64 {
    let a = words(answer);
    best(references, |r| f1_tokens(&a, &words(r)))
}

/// ROUGE-L F-measure with beta = 1 (the `rouge-score` package's `fmeasure`): LCS length over the
/// answer's and the reference's token counts, combined as a harmonic mean. Tokens are SQuAD-normalized
/// (no stemming), so it is comparable with the other metrics here rather than with `rouge-score`'s
/// tokenizer. Best over references.
pub fn rouge_l(answer: &str, references: &[String]) -> f64 {
    let a = words(answer);
    best(references, |r| {
        let r = words(r);
        if a.is_empty() || r.is_empty() {
            return 0.0;
        }
        let lcs = lcs_len(&a, &r) as f64;
        if lcs == 0.0 {
            return 0.0;
        }
        let p = lcs / a.len() as f64;
        let rc = lcs / r.len() as f64;
        2.0 * p * rc / (p + rc)
    })
}

/// Share of the reference's tokens (as a multiset) present in the answer: the completeness proxy,
/// which, unlike F1, does not punish a long answer that contains the whole reference. Best over
/// references; a reference that normalizes to nothing scores 0.
pub fn answer_recall(answer: &str, references: &[String]) -> f64 {
    let a = words(answer);
    best(references, |r| {
        let r = words(r);
        if r.is_empty() {
            return 0.0;
        }
        overlap(&a, &r) as f64 / r.len() as f64
    })
}

/// Max of `f` over the references; 0 when there are none.
fn best(references: &[String], f: impl Fn(&str) -> f64) -> f64 {
    references.iter().map(|r| f(r)).fold(0.0, f64::max)
}

/// Size of the multiset intersection (`Counter(a) & Counter(b)` summed).
fn overlap(a: &[String], b: &[String]) -> usize {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for t in a {
        *counts.entry(t.as_str()).or_default() += 1;
    }
    let mut same = 0;
    for t in b {
        if let Some(c) = counts.get_mut(t.as_str()) {
            if *c > 0 {
                *c -= 1;
                same += 1;
            }
        }
    }
    same
}

fn f1_tokens(a: &[String], r: &[String]) -> f64 {
    if a.is_empty() || r.is_empty() {
        return f64::from(u8::from(a == r));
    }
    let same = overlap(a, r);
    if same == 0 {
        return 0.0;
    }
    let p = same as f64 / a.len() as f64;
    let rc = same as f64 / r.len() as f64;
    2.0 * p * rc / (p + rc)
}

/// Longest common subsequence length, O(len(a)·len(b)) time, O(len(b)) memory.
fn lcs_len(a: &[String], b: &[String]) -> usize {
    let mut prev = vec![0usize; b.len() + 1];
    let mut cur = vec![0usize; b.len() + 1];
    for x in a {
        for (j, y) in b.iter().enumerate() {
            cur[j + 1] = if x == y {
                prev[j] + 1
            } else {
                cur[j].max(prev[j + 1])
            };
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(r: &[&str]) -> Vec<String> {
        r.iter().map(|s| s.to_string()).collect()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn squad_official_style_cases() {
        // SQuAD v1.1 dev, "Which NFL team represented the AFC at Super Bowl 50?"
        let r = refs(&["Denver Broncos", "Denver Broncos", "Denver Broncos"]);
        assert_eq!(exact_match("the Denver Broncos.", &r), 1.0);
        assert_eq!(token_f1("the Denver Broncos.", &r), 1.0);
        // "Broncos" alone: p = 1/1, r = 1/2 -> F1 = 2/3.
        assert!(close(token_f1("Broncos", &r), 2.0 / 3.0));
        assert_eq!(exact_match("Broncos", &r), 0.0);
        // Best over references: "Santa Clara, California" vs refs from the same question.
        let r = refs(&[
            "Santa Clara, California",
            "Levi's Stadium",
            "Levi's Stadium in the San Francisco Bay Area at Santa Clara, California.",
        ]);
        assert_eq!(exact_match("Levi's Stadium", &r), 1.0);
        // "santa clara" vs "santa clara california": p = 1, r = 2/3 -> 0.8.
        assert!(close(token_f1("Santa Clara", &r), 0.8));
    }

    #[test]
    fn f1_counts_duplicates_as_multisets() {
        // answer [cat cat cat], ref [cat dog]: overlap 1, p = 1/3, r = 1/2 -> F1 = 0.4.
        assert!(close(token_f1("cat cat cat", &refs(&["cat dog"])), 0.4));
        // Empty after normalization on both sides counts as a match (SQuAD v2 rule).
        assert_eq!(token_f1("the", &refs(&["a"])), 1.0);
        assert_eq!(token_f1("", &refs(&["dog"])), 0.0);
        assert_eq!(token_f1("dog", &[]), 0.0);
    }

    #[test]
    fn rouge_l_by_hand() {
        // answer [police killed gunman], ref [police kill gunman]: LCS = 2 (police, gunman);
        // p = 2/3, r = 2/3 -> F1 = 2/3.
        assert!(close(
            rouge_l(
                "police killed the gunman",
                &refs(&["police kill the gunman"])
            ),
            2.0 / 3.0
        ));
        // Order matters for LCS, not for F1: [y x] vs [x y] -> LCS 1, F = 0.5; token F1 = 1.
        assert!(close(rouge_l("y x", &refs(&["x y"])), 0.5));
        assert_eq!(token_f1("y x", &refs(&["x y"])), 1.0);
        // answer [x y b z] (4; "a" is an article), ref [c b c] (3): LCS 1; p = 1/4, r = 1/3 -> 2/7.
        assert!(close(rouge_l("x a y b z", &refs(&["c a b c"])), 2.0 / 7.0));
        assert_eq!(rouge_l("", &refs(&["dog"])), 0.0);
    }

    #[test]
    fn recall_ignores_answer_length() {
        let r = refs(&["red fox", "a small red fox"]);
        // First ref fully contained -> 1.0 even though the answer is long.
        assert_eq!(answer_recall("it was a quick red fox indeed", &r), 1.0);
        // [fox] against [red fox] -> 1/2; against [small red fox] -> 1/3; best 1/2.
        assert!(close(answer_recall("fox", &r), 0.5));
        assert_eq!(answer_recall("fox", &refs(&["the"])), 0.0);
    }
}
