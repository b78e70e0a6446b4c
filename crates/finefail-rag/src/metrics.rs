//! Retrieval quality against gold documents: recall@k and MRR at the document level.
//!
//! A question counts only when it has gold documents. It is a hit when any of its retrieved chunks
//! (all of them are within top-k) belongs to a gold document; its reciprocal rank is `1 / rank` of the
//! first such chunk, 0 when none. recall@k and MRR are the means over counted questions.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::tables::Question;
use finefail_data::tables::RetrievalRow;
use finefail_data::Chunk;

/// The content of `retrieval_metrics.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetrievalMetrics {
    /// `bm25`, `dense` or `hybrid`.
    pub retriever: String,
    /// Chunks retrieved per question.
    pub top_k: usize,
    /// Questions retrieved for (every row of `qa.parquet`).
    pub questions: usize,
    /// Questions with gold documents: the ones recall@k and MRR are computed on.
    pub questions_with_gold: usize,
    /// Share of counted questions with a gold document among their top-k chunks; null without gold.
    pub recall_at_k: Option<f64>,
    /// Mean reciprocal rank of the first gold chunk (0 when missed); null without gold.
    pub mrr: Option<f64>,
    /// Questions for which the retriever returned fewer than `top_k` chunks (e.g. BM25 with no shared term).
    pub questions_short: usize,
}

/// Computes the metrics of `rows` (any order) for `questions` over `chunks`.
pub fn compute(
    retriever: &str,
    top_k: usize,
    chunks: &[Chunk],
    questions: &[Question],
    rows: &[RetrievalRow],
) -> RetrievalMetrics {
    let doc_of: HashMap<&str, &str> = chunks
        .iter()
        .map(|c| (c.chunk_id.as_str(), c.doc_id.as_str()))
        .collect();
    let mut by_question: HashMap<&str, Vec<&RetrievalRow>> = HashMap::new();
    for r in rows {
        by_question
            .entry(r.question_id.as_str())
            .or_default()
            .push(r);
    }
    let (mut counted, mut hits, mut rr_sum, mut short) = (0usize, 0usize, 0.0f64, 0usize);
    for q in questions {
        let mut retrieved = by_question.remove(q.id.as_str()).unwrap_or_default();
        retrieved.sort_by_key(|r| r.rank);
        if retrieved.len() < top_k {
            short += 1;
        }
        if q.gold_doc_ids.is_empty() {
            continue;
        }
        counted += 1;
        let gold: HashSet<&str> = q.gold_doc_ids.iter().map(String::as_str).collect();
        let first = retrieved
            .iter()
            .filter(|r| r.rank as usize <= top_k)
            .find(|r| {
                doc_of
                    .get(r.chunk_id.as_str())
                    .is_some_and(|d| gold.contains(d))
            });
        if let Some(r) = first {
            hits += 1;
            rr_sum += 1.0 / f64::from(r.rank);
        }
    }
    let mean = |x: f64| (counted > 0).then(|| x / counted as f64);
    RetrievalMetrics {
        retriever: retriever.to_string(),
        top_k,
        questions: questions.len(),
        questions_with_gold: counted,
        recall_at_k: mean(hits as f64),
        mrr: mean(rr_sum),
        questions_short: short,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(id: &str, doc: &str) -> Chunk {
        Chunk {
            chunk_id: id.into(),
            doc_id: doc.into(),
            start: 0,
            end: 0,
            text: String::new(),
        }
    }
    fn q(id: &str, gold: &[&str]) -> Question {
        Question {
            id: id.into(),
            question: String::new(),
            gold_doc_ids: gold.iter().map(|s| s.to_string()).collect(),
        }
    }
    fn row(q: &str, rank: u32, c: &str) -> RetrievalRow {
        RetrievalRow {
            question_id: q.into(),
            rank,
            chunk_id: c.into(),
            score: 1.0,
        }
    }

    #[test]
    fn hand_computed_recall_and_mrr() {
        let chunks = [
            chunk("a#0", "a"),
            chunk("a#1", "a"),
            chunk("b#0", "b"),
            chunk("c#0", "c"),
        ];
        let questions = [
            q("q1", &["a"]),
            q("q2", &["b"]),
            q("q3", &["z"]),
            q("q4", &[]),
        ];
        let rows = [
            row("q1", 1, "a#1"),
            row("q1", 2, "b#0"),
            row("q2", 2, "b#0"), // gold at rank 2 (rows given out of order)
            row("q2", 1, "c#0"),
            row("q3", 1, "a#0"),
            row("q3", 2, "c#0"),
            row("q4", 1, "a#0"),
        ];
        let m = compute("bm25", 2, &chunks, &questions, &rows);
        // q1: hit at 1; q2: hit at 2; q3: miss; q4: no gold, not counted (and short: 1 < 2).
        assert_eq!(m.questions, 4);
        assert_eq!(m.questions_with_gold, 3);
        assert_eq!(m.recall_at_k, Some(2.0 / 3.0));
        assert!((m.mrr.unwrap() - (1.0 + 0.5 + 0.0) / 3.0).abs() < 1e-12);
        assert_eq!(m.questions_short, 1);
    }

    #[test]
    fn no_gold_means_no_numbers() {
        let m = compute(
            "dense",
            3,
            &[chunk("a#0", "a")],
            &[q("q", &[])],
            &[row("q", 1, "a#0")],
        );
        assert_eq!(
            (m.recall_at_k, m.mrr, m.questions_with_gold),
            (None, None, 0)
        );
    }
}
