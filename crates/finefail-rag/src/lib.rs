//! Retrieval for finefail: BM25 (tantivy), dense retrieval with a MiniLM/BERT embedder written in burn,
//! and hybrid reciprocal-rank fusion. Retrieval is computed once per dataset and written to
//! `retrieval.parquet`, so every arm of an experiment sees the same chunks and differs only in the
//! generator. The library never prints: progress goes through callbacks, errors through [`RagError`].

mod answer_parts;
pub mod answering;
pub mod api_answering;
pub mod bert;
pub mod bm25;
pub mod dense;
pub mod embed_cache;
pub mod error;
pub mod hybrid;
pub mod icl_prompt;
pub mod label_likelihood;
pub mod label_ll_answers;
pub mod metrics;
pub mod rag_prompt;
pub mod ranking;
pub mod retrieve;
pub mod tables;
mod test_inputs;

pub use bert::{Bert, BertConfig};
pub use bm25::Bm25Index;
pub use dense::{Embedder, Embeddings};
pub use error::{RagError, Result};
pub use metrics::RetrievalMetrics;
pub use ranking::Hit;
pub use retrieve::{
    retrieve, run_retrieve, DenseSetup, RetrieveOptions, RetrievePhase, RetrieveProgress,
    Retriever, DEFAULT_EMBEDDER_DIR, DEFAULT_TOP_K,
};
pub use tables::{read_questions, Question};
