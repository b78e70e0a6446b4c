//! Contamination report: how much the training pool overlaps the test set. Three checks over
//! SQuAD-normalised text: exact duplicate questions, near-duplicate questions (Jaccard similarity
//! of word trigram sets ≥ 0.8; questions shorter than three words compare as word sets), and test
//! answers that appear verbatim (as a whole-word substring) in a training answer — skipped for
//! label questions, whose yes/no answers always recur, and for answers of fewer than two words.

use crate::normalize::words;
use crate::schema::{AnswerType, QaRecord};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// Word n-gram length of the near-duplicate check.
pub const NGRAM: usize = 3;
/// Jaccard similarity at or above which two questions are near-duplicates.
pub const JACCARD_THRESHOLD: f64 = 0.8;
/// How many example pairs the report lists.
const MAX_EXAMPLES: usize = 20;

/// The contents of `contamination.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContaminationReport {
    pub test: usize,
    pub pool: usize,
    pub ngram: usize,
    pub jaccard_threshold: f64,
    /// Test questions whose normalised text equals a pool question's.
    pub exact_duplicates: usize,
    /// Test questions (not exact duplicates) with a pool question at or above the threshold.
    pub near_duplicates: usize,
    /// Test questions one of whose answers appears verbatim in a pool answer.
    pub answer_leaks: usize,
    pub examples: Vec<ContaminationExample>,
}

/// One flagged (test, training) pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContaminationExample {
    pub kind: String,
    pub test_id: String,
    pub train_id: String,
    pub similarity: f64,
}

/// Checks `test` questions against `pool` questions.
pub fn check(test: &[&QaRecord], pool: &[&QaRecord]) -> ContaminationReport {
    let pool_grams: Vec<HashSet<String>> =
        pool.iter().map(|q| grams(&words(&q.question))).collect();
    let mut index: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, g) in pool_grams.iter().enumerate() {
        for gram in g {
            index.entry(gram.as_str()).or_default().push(i);
        }
    }
    let pool_norm: HashMap<String, usize> = pool
        .iter()
        .enumerate()
        .map(|(i, q)| (words(&q.question).join(" "), i))
        .rev()
        .collect();
    let pool_answers: Vec<(usize, String)> = pool
        .iter()
        .enumerate()
        .flat_map(|(i, q)| {
            q.answers
                .iter()
                .map(move |a| (i, format!(" {} ", words(a).join(" "))))
        })
        .collect();

    let mut report = ContaminationReport {
        test: test.len(),
        pool: pool.len(),
        ngram: NGRAM,
        jaccard_threshold: JACCARD_THRESHOLD,
        exact_duplicates: 0,
        near_duplicates: 0,
        answer_leaks: 0,
        examples: Vec::new(),
    };
    let example = |r: &mut ContaminationReport, kind: &str, t: &QaRecord, p: usize, sim: f64| {
        if r.examples.len() < MAX_EXAMPLES {
            r.examples.push(ContaminationExample {
                kind: kind.into(),
                test_id: t.id.clone(),
                train_id: pool[p].id.clone(),
                similarity: sim,
            });
        }
    };
    for t in test {
        let norm = words(&t.question).join(" ");
        if let Some(&p) = pool_norm.get(&norm) {
            report.exact_duplicates += 1;
            example(&mut report, "exact", t, p, 1.0);
        } else {
            let g = grams(&words(&t.question));
            let mut overlap: HashMap<usize, usize> = HashMap::new();
            for gram in &g {
                for &p in index.get(gram.as_str()).into_iter().flatten() {
                    *overlap.entry(p).or_default() += 1;
                }
            }
            let best = overlap
                .into_iter()
                .map(|(p, inter)| {
                    (
                        p,
                        inter as f64 / (g.len() + pool_grams[p].len() - inter) as f64,
                    )
                })
                .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
            if let Some((p, sim)) = best.filter(|(_, s)| *s >= JACCARD_THRESHOLD) {
                report.near_duplicates += 1;
                example(&mut report, "near", t, p, sim);
            }
        }
        if t.answer_type != AnswerType::Label {
            let leak = t
                .answers
                .iter()
                .map(|a| words(a))
                .filter(|w| w.len() >= 2)
                .find_map(|w| {
                    let needle = format!(" {} ", w.join(" "));
                    pool_answers
                        .iter()
                        .find(|(_, hay)| hay.contains(&needle))
                        .map(|(p, _)| *p)
                });
            if let Some(p) = leak {
                report.answer_leaks += 1;
                example(&mut report, "answer", t, p, 1.0);
            }
        }
    }
    report
}

/// Word n-grams of a question (its word set when it is shorter than n).
fn grams(words: &[String]) -> HashSet<String> {
    if words.len() < NGRAM {
        return words.iter().cloned().collect();
    }
    words.windows(NGRAM).map(|w| w.join(" ")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(id: &str, question: &str, answer: &str) -> QaRecord {
        QaRecord {
            id: id.into(),
            dataset: "t".into(),
            question: question.into(),
            answers: vec![answer.into()],
            answer_type: AnswerType::Free,
            label: None,
            answerable: true,
            gold_doc_ids: vec![],
            source_split: "x".into(),
        }
    }

    #[test]
    fn finds_exact_near_and_answer_overlap() {
        let pool = [
            q(
                "p1",
                "Who wrote the play about Phoebe?",
                "J. M. Barrie wrote it",
            ),
            q(
                "p2",
                "What is the name of the dog in the story of the old house by the lake?",
                "Rex",
            ),
            q(
                "p3",
                "Where does Mark live?",
                "in a quiet suburb of Phoenix",
            ),
        ];
        let test = [
            q("t1", "who wrote THE play about phoebe", "Barrie"),
            // 10 trigrams each after normalisation, 9 shared: Jaccard 9/11 ≈ 0.82 (computed by hand).
            q(
                "t2",
                "What is the name of the dog in the story of the old house by the river?",
                "Rex",
            ),
            q("t3", "Why does Mark run the station?", "a quiet suburb"),
            q("t4", "Completely unrelated question here", "nothing"),
        ];
        let pr: Vec<&QaRecord> = pool.iter().collect();
        let tr: Vec<&QaRecord> = test.iter().collect();
        let r = check(&tr, &pr);
        assert_eq!(r.exact_duplicates, 1);
        assert_eq!(r.near_duplicates, 1);
        assert_eq!(r.answer_leaks, 1, "{:?}", r.examples);
        assert!(r
            .examples
            .iter()
            .any(|e| e.kind == "answer" && e.test_id == "t3" && e.train_id == "p3"));
    }
}
