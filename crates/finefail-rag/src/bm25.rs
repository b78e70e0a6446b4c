//! BM25 over chunks with tantivy: an in-RAM index, an English analyzer, and queries built from analysed
//! terms (never parsed), so any question text is a valid query.
//!
//! Analyzer: tantivy's simple tokenizer (splits on non-alphanumerics), tokens longer than 40 bytes
//! dropped, lowercased, English stop words removed, Porter/Snowball English stemming. Scoring: tantivy's
//! BM25 (k1 = 1.2, b = 0.75) with corpus-wide statistics; a query is the OR of its terms (a repeated term
//! counts once per occurrence, as in `rank_bm25`). Only chunks sharing at least one term with the query
//! are returned, so a question made only of stop words gets no BM25 hits.

use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, FAST};
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
};
use tantivy::{doc, Index, IndexReader, IndexWriter, ReloadPolicy, Term};

use crate::error::{RagError, Result};
use crate::ranking::{top_k, Hit};

const ANALYZER: &str = "finefail_en";
/// Indexing memory budget; beyond it tantivy writes several segments, which is fine (ties are broken
/// by the stored chunk position, not by segment order).
const WRITER_BUDGET: usize = 64_000_000;

fn tantivy_err(what: &str, e: tantivy::TantivyError) -> RagError {
    RagError::Other(format!("BM25 {what}: {e}"))
}

/// The English analyzer used for chunks and queries alike.
fn analyzer() -> TextAnalyzer {
    let builder = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .dynamic();
    let builder = match StopWordFilter::new(Language::English) {
        Some(stop) => builder.filter_dynamic(stop),
        None => builder,
    };
    builder
        .filter_dynamic(Stemmer::new(Language::English))
        .build()
}

/// A BM25 index over a fixed list of chunk texts; hits refer to positions in that list.
pub struct Bm25Index {
    reader: IndexReader,
    text: Field,
    analyzer: TextAnalyzer,
    len: usize,
}

impl Bm25Index {
    /// Indexes `texts` (chunk texts, in chunk order).
    pub fn build<S: AsRef<str>>(texts: &[S]) -> Result<Self> {
        let mut schema = Schema::builder();
        let indexing = TextFieldIndexing::default()
            .set_tokenizer(ANALYZER)
            .set_index_option(IndexRecordOption::WithFreqs);
        let text = schema.add_text_field(
            "text",
            TextOptions::default().set_indexing_options(indexing),
        );
        let ord = schema.add_u64_field("ord", FAST);
        let index = Index::create_in_ram(schema.build());
        index.tokenizers().register(ANALYZER, analyzer());
        let mut writer: IndexWriter = index
            .writer_with_num_threads(1, WRITER_BUDGET)
            .map_err(|e| tantivy_err("index writer", e))?;
        for (i, t) in texts.iter().enumerate() {
            writer
                .add_document(doc!(text => t.as_ref(), ord => i as u64))
                .map_err(|e| tantivy_err("indexing", e))?;
        }
        writer.commit().map_err(|e| tantivy_err("commit", e))?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(|e| tantivy_err("reader", e))?;
        Ok(Self {
            reader,
            text,
            analyzer: analyzer(),
            len: texts.len(),
        })
    }

    /// Number of indexed chunks.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no chunk was indexed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The analysed query terms of `text` (lowercased, stop words removed, stemmed), in order.
    pub fn query_terms(&self, text: &str) -> Vec<String> {
        let mut analyzer = self.analyzer.clone();
        let mut stream = analyzer.token_stream(text);
        let mut terms = Vec::new();
        while stream.advance() {
            terms.push(stream.token().text.clone());
        }
        terms
    }

    /// The best `k` chunks for `query` by BM25, score descending, ties by chunk position.
    pub fn search(&self, query: &str, k: usize) -> Result<Vec<Hit>> {
        let terms = self.query_terms(query);
        if terms.is_empty() || k == 0 || self.len == 0 {
            return Ok(Vec::new());
        }
        let clauses: Vec<(Occur, Box<dyn Query>)> = terms
            .iter()
            .map(|t| {
                let q = TermQuery::new(
                    Term::from_field_text(self.text, t),
                    IndexRecordOption::WithFreqs,
                );
                (Occur::Should, Box::new(q) as Box<dyn Query>)
            })
            .collect();
        let query = BooleanQuery::new(clauses);
        let searcher = self.reader.searcher();
        // Fetch one more than needed; while the last kept and the first dropped hit tie, fetch more,
        // so the tie is broken by chunk position rather than by the collector's internals.
        let mut limit = (k + 1).min(self.len);
        loop {
            let docs = searcher
                .search(&query, &TopDocs::with_limit(limit).order_by_score())
                .map_err(|e| tantivy_err("search", e))?;
            let mut hits = Vec::with_capacity(docs.len());
            for (score, addr) in &docs {
                let ords = searcher
                    .segment_reader(addr.segment_ord)
                    .fast_fields()
                    .u64("ord")
                    .map_err(|e| tantivy_err("fast field", e))?;
                let index = ords
                    .first(addr.doc_id)
                    .ok_or_else(|| RagError::Other("BM25: document without position".into()))?;
                hits.push(Hit {
                    index: index as usize,
                    score: f64::from(*score),
                });
            }
            let boundary_tie =
                docs.len() == limit && limit > k && docs[k - 1].0 == docs[limit - 1].0;
            if boundary_tie && limit < self.len {
                limit = (limit * 2).min(self.len);
                continue;
            }
            return Ok(top_k(hits, k));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus() -> Vec<&'static str> {
        vec![
            "Paris is the capital and largest city of France.",
            "The mitochondria is the powerhouse of the cell.",
            "Aspirin reduces the risk of heart attacks in some patients.",
            "Berlin is the capital of Germany; it lies on the Spree.",
            "Cats sleep for most of the day and hunt at night.",
        ]
    }

    #[test]
    fn the_obvious_chunk_ranks_first() {
        let idx = Bm25Index::build(&corpus()).unwrap();
        let cases = [
            ("What is the capital of France?", 0),
            ("Which organelle is the powerhouse of cells?", 1),
            ("Does aspirin lower heart-attack risk?", 2),
            ("On which river does Berlin lie?", 3),
            ("When do cats hunt?", 4),
        ];
        for (q, want) in cases {
            let hits = idx.search(q, 3).unwrap();
            assert_eq!(hits[0].index, want, "{q}: {hits:?}");
            assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
        }
    }

    #[test]
    fn stemming_and_case_fold() {
        let idx = Bm25Index::build(&corpus()).unwrap();
        // "Hunting" and "SLEEPING" only match through stemming and lowercasing.
        assert_eq!(idx.search("HUNTING SLEEPING", 1).unwrap()[0].index, 4);
        assert_eq!(idx.query_terms("The cats are hunting"), vec!["cat", "hunt"]);
    }

    #[test]
    fn query_syntax_is_not_interpreted() {
        let idx = Bm25Index::build(&corpus()).unwrap();
        for q in [
            "capital: \"France\" (AND) OR -Paris^2 [a TO b] {x} ~ * ? \\ / !",
            "\"unbalanced quote",
            "title:Paris",
            "((()))",
            "",
            "the of and",
        ] {
            let hits = idx.search(q, 3).unwrap();
            assert!(hits.len() <= 3, "{q}");
        }
        assert!(idx.search("", 3).unwrap().is_empty());
        assert_eq!(idx.search("title:Paris", 1).unwrap()[0].index, 0);
    }

    #[test]
    fn ties_follow_chunk_order() {
        // Identical chunks score identically; the ranking must follow chunk order, also at the cut.
        let texts = vec!["apple pie"; 7];
        let idx = Bm25Index::build(&texts).unwrap();
        let got: Vec<usize> = idx
            .search("apple", 4)
            .unwrap()
            .iter()
            .map(|h| h.index)
            .collect();
        assert_eq!(got, vec![0, 1, 2, 3]);
        assert_eq!(idx.search("banana", 3).unwrap(), vec![]);
    }

    #[test]
    fn bm25_score_matches_hand_computation() {
        // Two documents, query "apple": tantivy BM25 with k1 = 1.2, b = 0.75,
        // idf = ln(1 + (N - n + 0.5) / (n + 0.5)), N = 2, n = 1; doc 0 has tf 2, length 3; avg length 2.5.
        let idx = Bm25Index::build(&["apple apple pear", "banana kiwi"]).unwrap();
        let hits = idx.search("apple", 2).unwrap();
        assert_eq!(hits.len(), 1);
        let idf = (1.0f64 + (2.0 - 1.0 + 0.5) / (1.0 + 0.5)).ln();
        let (tf, dl, avgdl, k1, b) = (2.0f64, 3.0, 2.5, 1.2, 0.75);
        let want = idf * tf * (k1 + 1.0) / (tf + k1 * (1.0 - b + b * dl / avgdl));
        assert!(
            (hits[0].score - want).abs() < 1e-3 * want,
            "{} vs {want}",
            hits[0].score
        );
    }
}
