//! Canonical QA tables for finefail: importers for the study's datasets, the `qa` / `corpus` /
//! `chunks` / `retrieval` / `answers` parquet tables (one reader beside each writer), corpus
//! chunking, nested training splits and the contamination check, and SQuAD text normalisation
//! ([`normalize`]). Atomic writes, the seeded generator and the file names it writes are
//! `finefail-core`'s, the crate below this one.
//!
//! Every later step — fine-tuning, retrieval, answering, scoring — reads what this crate writes,
//! so its contract (docs/data.md, "Files") is pinned: same test questions for every arm,
//! training subsets nested by construction, nothing half-written.
//!
//! It also holds [`chat_api`], the OpenAI-compatible chat client that the LLM judge
//! (`finefail-score`) and the API answering arm (`finefail-rag`) share: the one crate both use.

pub mod chat_api;
pub mod chunk;
pub mod contamination;
pub mod dataset;
pub mod error;
pub mod importers;
pub mod normalize;
pub mod prepare;
pub mod schema;
pub mod shuffle;
pub mod splits;
pub mod tables;

pub use chunk::{ChunkConfig, ChunkUnit};
pub use error::{DataError, Result};
pub use importers::{ColumnMap, Format};
pub use prepare::{load_stats, prepare, PrepareOptions, Stats};
pub use schema::{
    AnswerRecord, AnswerType, Chunk, Document, Label, LabelSet, QaRecord, ABSTENTION,
};
pub use splits::{SplitConfig, SplitUnit, Splits};
