//! Retrieval for a whole dataset: every question of `qa.parquet` against every chunk, once, shared by
//! all arms; plus the `finefail retrieve` step that reads the tables and writes `retrieval.parquet` and
//! `retrieval_metrics.json`.

use finefail_core::files;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use burn::tensor::Device;

use crate::bm25::Bm25Index;
use crate::dense::{search, Embedder, Embeddings};
use crate::embed_cache::{default_cache_dir, embed_cached};
use crate::error::{RagError, Result};
use crate::hybrid::{candidate_depth, fuse};
use crate::metrics::{compute, RetrievalMetrics};
use crate::ranking::Hit;
use crate::tables::{read_questions, Question};
use finefail_data::tables::{read_chunks, write_retrieval, RetrievalRow};
use finefail_data::Chunk;

/// Chunks per question unless configured otherwise (`retrieval.top_k`, docs/config.md).
pub const DEFAULT_TOP_K: usize = 3;
/// Where `make model` puts the default embedder, relative to the repository root.
pub const DEFAULT_EMBEDDER_DIR: &str = "checkpoints/all-minilm-l6-v2";

/// Which ranking function retrieves the chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Retriever {
    /// Lexical BM25 (tantivy).
    Bm25,
    /// Cosine similarity of MiniLM embeddings.
    Dense,
    /// Reciprocal-rank fusion of BM25 and dense (the default).
    #[default]
    Hybrid,
}

impl Retriever {
    /// The name used on the command line, in configs and in `retrieval_metrics.json`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Bm25 => "bm25",
            Self::Dense => "dense",
            Self::Hybrid => "hybrid",
        }
    }

    /// Whether the retriever needs the embedder.
    pub fn needs_embedder(self) -> bool {
        !matches!(self, Self::Bm25)
    }
}

impl fmt::Display for Retriever {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Retriever {
    type Err = RagError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "bm25" => Ok(Self::Bm25),
            "dense" => Ok(Self::Dense),
            "hybrid" => Ok(Self::Hybrid),
            other => Err(RagError::bad_input(format!(
                "unknown retriever `{other}` (expected bm25, dense or hybrid)"
            ))),
        }
    }
}

/// What dense and hybrid retrieval need: the embedder, the device it runs on, and the cache directory.
pub struct DenseSetup<'a> {
    /// The loaded sentence embedder.
    pub embedder: &'a Embedder,
    /// Device for the similarity matmul (the embedder's own device is fixed at load).
    pub device: Device,
    /// Directory of cached corpus embeddings (see [`crate::embed_cache`]).
    pub cache_dir: PathBuf,
}

/// The part of a retrieval that is running: embedding is by far the longest, and its units (chunks,
/// then questions) are what a user can relate to the dataset's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetrievePhase {
    /// Embedding the corpus's chunks (dense and hybrid; cached chunks count at once).
    EmbedChunks,
    /// Embedding the questions (dense and hybrid).
    EmbedQuestions,
    /// Ranking chunks for each question (BM25; dense search is part of embedding the questions).
    Rank,
}

impl RetrievePhase {
    /// What the phase counts, for a progress display.
    pub fn unit(self) -> &'static str {
        match self {
            Self::EmbedChunks => "chunks",
            Self::EmbedQuestions | Self::Rank => "questions",
        }
    }

    /// What the phase does, in a few words.
    pub fn describe(self) -> &'static str {
        match self {
            Self::EmbedChunks => "embedding chunks",
            Self::EmbedQuestions => "embedding questions",
            Self::Rank => "ranking",
        }
    }
}

/// How far [`retrieve`] is: `done` of `total` units of `phase`. Reported after every embedding
/// batch and every ranked question, so a caller can draw a bar per phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrieveProgress {
    /// The running phase.
    pub phase: RetrievePhase,
    /// Units of the phase done.
    pub done: usize,
    /// Units in the phase.
    pub total: usize,
}

fn report(
    progress: &mut dyn FnMut(RetrieveProgress),
    phase: RetrievePhase,
    done: usize,
    total: usize,
) {
    progress(RetrieveProgress {
        phase,
        done: done.min(total),
        total,
    });
}

/// Retrieves the best `top_k` chunks for every question. Rows are grouped by question in question
/// order, ranks 1.. within each. `dense` is required for dense and hybrid retrieval.
pub fn retrieve(
    chunks: &[Chunk],
    questions: &[Question],
    retriever: Retriever,
    top_k: usize,
    dense: Option<&DenseSetup<'_>>,
    progress: &mut dyn FnMut(RetrieveProgress),
) -> Result<Vec<RetrievalRow>> {
    if chunks.is_empty() {
        return Err(RagError::bad_input(
            "the retrieval corpus is empty (no chunks)",
        ));
    }
    if top_k == 0 {
        return Err(RagError::bad_input("top_k must be at least 1"));
    }
    let depth = match retriever {
        Retriever::Hybrid => candidate_depth(top_k),
        _ => top_k,
    };
    let dense_hits: Option<Vec<Vec<Hit>>> = if retriever.needs_embedder() {
        let setup = dense.ok_or_else(|| {
            RagError::bad_input(format!(
                "the {retriever} retriever needs an embedder (--embedder DIR)"
            ))
        })?;
        let texts: Vec<&str> = chunks.iter().map(|c| c.text.as_str()).collect();
        let (corpus, _, _) =
            embed_cached(setup.embedder, &texts, &setup.cache_dir, &mut |d, _| {
                report(progress, RetrievePhase::EmbedChunks, d, chunks.len())
            })?;
        // Questions are cached too: every arm and re-run of a dataset asks the same ones.
        let qtexts: Vec<&str> = questions.iter().map(|q| q.question.as_str()).collect();
        let (queries, _, _): (Embeddings, _, _) =
            embed_cached(setup.embedder, &qtexts, &setup.cache_dir, &mut |d, _| {
                report(progress, RetrievePhase::EmbedQuestions, d, questions.len())
            })?;
        Some(search(&corpus, &queries, depth, &setup.device)?)
    } else {
        None
    };

    let bm25 = match retriever {
        Retriever::Dense => None,
        _ => Some(Bm25Index::build(
            &chunks.iter().map(|c| c.text.as_str()).collect::<Vec<_>>(),
        )?),
    };

    let mut rows = Vec::with_capacity(questions.len() * top_k);
    for (qi, q) in questions.iter().enumerate() {
        let hits = match (retriever, &bm25, &dense_hits) {
            (Retriever::Bm25, Some(index), _) => index.search(&q.question, top_k)?,
            (Retriever::Dense, _, Some(d)) => d[qi].clone(),
            (Retriever::Hybrid, Some(index), Some(d)) => {
                let lexical = index.search(&q.question, depth)?;
                fuse(&[&lexical, &d[qi]], top_k)
            }
            _ => return Err(RagError::Other("retriever state is inconsistent".into())),
        };
        rows.extend(hits.into_iter().enumerate().map(|(r, h)| RetrievalRow {
            question_id: q.id.clone(),
            rank: r as u32 + 1,
            chunk_id: chunks[h.index].chunk_id.clone(),
            score: h.score,
        }));
        if !retriever.needs_embedder() {
            report(progress, RetrievePhase::Rank, qi + 1, questions.len());
        }
    }
    Ok(rows)
}

/// Options of the `finefail retrieve` step.
#[derive(Debug, Clone)]
pub struct RetrieveOptions {
    /// Ranking function (default hybrid).
    pub retriever: Retriever,
    /// Chunks per question (default 3).
    pub top_k: usize,
    /// Embedder directory for dense and hybrid (default [`DEFAULT_EMBEDDER_DIR`]).
    pub embedder_dir: PathBuf,
    /// Embedding cache directory; `None` = `$FINEFAIL_CACHE/embeddings` (else `~/.cache/finefail/embeddings`).
    pub cache_dir: Option<PathBuf>,
    /// Device the embedder runs on.
    pub device: Device,
}

impl Default for RetrieveOptions {
    fn default() -> Self {
        Self {
            retriever: Retriever::default(),
            top_k: DEFAULT_TOP_K,
            embedder_dir: PathBuf::from(DEFAULT_EMBEDDER_DIR),
            cache_dir: None,
            device: Device::flex(),
        }
    }
}

/// Reads `DATA/chunks.parquet` and `DATA/qa.parquet`, retrieves, and writes `OUT/retrieval.parquet` and
/// `OUT/retrieval_metrics.json` (both atomically). Returns the metrics that were written.
pub fn run_retrieve(
    data_dir: &Path,
    out_dir: &Path,
    options: &RetrieveOptions,
    progress: &mut dyn FnMut(RetrieveProgress),
) -> Result<RetrievalMetrics> {
    let chunks = read_chunks(&data_dir.join(files::CHUNKS))?;
    let questions = read_questions(&data_dir.join(files::QA))?;
    if chunks.is_empty() {
        return Err(RagError::bad_input(format!(
            "{}: the retrieval corpus is empty (no chunks)",
            data_dir.join(files::CHUNKS).display()
        )));
    }
    let embedder = if options.retriever.needs_embedder() {
        Some(Embedder::load(&options.embedder_dir, &options.device)?)
    } else {
        None
    };
    let cache_dir = match &options.cache_dir {
        Some(d) => d.clone(),
        None if options.retriever.needs_embedder() => default_cache_dir()?,
        None => PathBuf::new(),
    };
    let setup = embedder.as_ref().map(|embedder| DenseSetup {
        embedder,
        device: options.device.clone(),
        cache_dir,
    });
    let rows = retrieve(
        &chunks,
        &questions,
        options.retriever,
        options.top_k,
        setup.as_ref(),
        progress,
    )?;
    let metrics = compute(
        options.retriever.name(),
        options.top_k,
        &chunks,
        &questions,
        &rows,
    );
    std::fs::create_dir_all(out_dir).map_err(|e| RagError::io(out_dir, e))?;
    write_retrieval(&out_dir.join(files::RETRIEVAL), &rows)?;
    let json = serde_json::to_vec_pretty(&metrics).map_err(|e| RagError::Other(e.to_string()))?;
    finefail_core::atomic::write_file(&out_dir.join(files::RETRIEVAL_METRICS), &json)?;
    Ok(metrics)
}
