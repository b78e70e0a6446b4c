//! RAFT-style training contexts (`train.format = "raft"`; Zhang et al. 2024, "RAFT: Adapting
//! Language Model to Domain Specific RAG"): each training question is put to the model with its
//! gold passage among D distractor passages, and for a share 1 − P of the questions with the
//! distractors only, so the adapter learns to pick the passage that answers and not to trust a
//! context blindly. The prompt is the evaluation's `rag` prompt (system line, numbered passages,
//! question), so a RAFT adapter is evaluated on the prompt shape it trained on; the target is the
//! `qa` target ([`crate::examples::target_answer`]).
//!
//! * Gold passage: a chunk of one of the question's `gold_doc_ids` in `chunks.parquet`: the first
//!   one (gold documents in their order, chunks in table order) whose text contains the first
//!   reference answer (case-insensitive; free and span answers only), else the gold chunk ranked
//!   best by the question's retrieval, else the first gold chunk. A question with no gold chunk
//!   gets distractors only (`gold_included: false`).
//! * Gold kept with probability P (`train.raft_gold_fraction`), one Bernoulli draw per question.
//! * Distractors (`train.raft_distractors` = D): never a chunk of a gold document. First the
//!   question's retrieved chunks in rank order (hard negatives, as RAFT does; all the ranks
//!   `retrieval.parquet` holds, when a retrieval directory is given), then chunks drawn uniformly
//!   from the chunk table until there are D, or every eligible chunk when fewer than D are.
//! * Order: the passages are shuffled, so the gold passage's position says nothing.
//!
//! Every draw comes from a [`SplitMix64`] seeded by (run seed, question id): a question's context
//! is a pure function of (data, seed, settings), the same at every N (so the 200 ⊂ 500 nesting of
//! training subsets holds for the contexts too), and the same in a resumed run. Which passages an
//! example got is written to `OUT/raft_examples.jsonl` ([`write_examples`]), one line per training
//! and validation example.

use crate::error::{Result, TrainError};
use crate::request::FinetuneRequest;
use finefail_core::files;
use finefail_core::splitmix::{mix64, SplitMix64};
use finefail_data::tables::{ranked_chunk_ids, read_chunks, read_retrieval};
use finefail_data::{AnswerType, Chunk, QaRecord};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// The file beside the adapter that records every RAFT example's passages, so what was gold, what
/// was a distractor and which examples lacked gold can be checked after the fact.
pub const RAFT_EXAMPLES: &str = "raft_examples.jsonl";

/// XORed into the run's seed before the per-question hash, so the context draws are not the
/// stream of the other draws from that seed (batch order, adapter init, dropout). "RAFT_CTX" in
/// ASCII; changing it changes every RAFT context.
pub const RAFT_SALT: u64 = 0x5241_4654_5F43_5458;

/// Random top-up draws tried per missing distractor before falling back to listing every eligible
/// chunk (only a chunk table mostly made of the question's gold documents gets there).
const REJECTION_TRIES: usize = 64;

/// The RAFT settings of one run, taken from `train.*` and the request's seed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RaftParams {
    /// Distractor passages per example (`train.raft_distractors`).
    pub distractors: usize,
    /// Probability P that an example keeps its gold passage (`train.raft_gold_fraction`).
    pub gold_fraction: f64,
    /// The run's seed.
    pub seed: u64,
}

/// One example's context as `raft_examples.jsonl` records it: which passages the prompt holds, in
/// prompt order, and which one (if any) is gold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RaftExample {
    /// Question id.
    pub question_id: String,
    /// `train` or `val`: validation examples are built the same way, so the validation loss is
    /// measured on the training task.
    pub split: String,
    /// The passages' chunk ids in prompt order (before fitting to `max_seq_len`, which may shorten
    /// or drop the last ones as it does for `rag`).
    pub chunk_ids: Vec<String>,
    /// The question's gold passage, whether or not this example includes it (`None`: the question
    /// has no gold chunk in `chunks.parquet`).
    pub gold_chunk_id: Option<String>,
    /// Whether the gold passage is among `chunk_ids`.
    pub gold_included: bool,
    /// How many distractors came from the question's retrieval (the rest were drawn at random).
    pub hard_negatives: usize,
}

/// A run's RAFT contexts: each question's passage texts in prompt order (what
/// [`crate::examples::build_examples`] renders) and the examples' records for
/// [`RAFT_EXAMPLES`].
pub type RaftContexts = (HashMap<String, Vec<String>>, Vec<RaftExample>);

/// `chunks.parquet` indexed by chunk id and by document, the pool gold passages and distractors
/// are taken from.
#[derive(Debug, Clone)]
pub struct ChunkIndex {
    chunks: Vec<Chunk>,
    by_id: HashMap<String, usize>,
    by_doc: HashMap<String, Vec<usize>>,
}

impl ChunkIndex {
    /// Indexes `chunks` (their order is the table's, which the random draws index into).
    pub fn new(chunks: Vec<Chunk>) -> Self {
        let mut by_id = HashMap::new();
        let mut by_doc: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, c) in chunks.iter().enumerate() {
            by_id.insert(c.chunk_id.clone(), i);
            by_doc.entry(c.doc_id.clone()).or_default().push(i);
        }
        Self {
            chunks,
            by_id,
            by_doc,
        }
    }

    /// Reads `DATA/chunks.parquet`; a dataset without one cannot give RAFT passages (bad input).
    pub fn load(data_dir: &Path) -> Result<Self> {
        let path = data_dir.join(files::CHUNKS);
        if !path.is_file() {
            return Err(TrainError::bad_input(
                &path,
                "not found: train.format = \"raft\" takes its passages from the dataset's chunks",
            ));
        }
        Ok(Self::new(read_chunks(&path)?))
    }

    /// The text of chunk `id`.
    pub fn text(&self, id: &str) -> Option<&str> {
        self.by_id.get(id).map(|&i| self.chunks[i].text.as_str())
    }

    /// Number of chunks.
    pub fn len(&self) -> usize {
        self.chunks.len()
    }

    /// True when the table has no chunk.
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }
}

/// The question's own generator: the run's seed and the question id hashed together.
fn question_rng(seed: u64, question_id: &str) -> SplitMix64 {
    let digest = Sha256::digest(question_id.as_bytes());
    let mut id = [0u8; 8];
    id.copy_from_slice(&digest[..8]);
    SplitMix64::new(mix64(seed ^ RAFT_SALT) ^ u64::from_le_bytes(id))
}

/// A uniform index below `n` (n > 0), by rejection so it is unbiased.
fn below(rng: &mut SplitMix64, n: usize) -> usize {
    let n = n as u64;
    let zone = u64::MAX - u64::MAX % n;
    loop {
        let x = rng.next_u64();
        if x < zone {
            return (x % n) as usize;
        }
    }
}

/// The question's gold passage (an index into the table), by the rule of the module docs.
pub fn gold_chunk(rec: &QaRecord, index: &ChunkIndex, ranked: &[String]) -> Option<usize> {
    let candidates: Vec<usize> = rec
        .gold_doc_ids
        .iter()
        .filter_map(|d| index.by_doc.get(d))
        .flatten()
        .copied()
        .collect();
    let answer = rec
        .answers
        .first()
        .map(|a| a.trim().to_lowercase())
        .filter(|a| !a.is_empty() && rec.answerable && rec.answer_type != AnswerType::Label);
    if let Some(a) = answer {
        let hit = candidates
            .iter()
            .find(|&&i| index.chunks[i].text.to_lowercase().contains(&a));
        if let Some(&i) = hit {
            return Some(i);
        }
    }
    ranked
        .iter()
        .filter_map(|id| index.by_id.get(id).copied())
        .find(|i| candidates.contains(i))
        .or_else(|| candidates.first().copied())
}

/// The RAFT context of one question: gold passage kept or left out, D distractors (hard negatives
/// from `ranked`, the question's retrieved chunk ids by rank, then random ones), shuffled. A pure
/// function of its arguments.
pub fn raft_example(
    rec: &QaRecord,
    split: &str,
    index: &ChunkIndex,
    ranked: &[String],
    params: &RaftParams,
) -> RaftExample {
    let mut rng = question_rng(params.seed, &rec.id);
    let gold = gold_chunk(rec, index, ranked);
    // Always drawn, so the later draws do not depend on whether the question has a gold chunk.
    let keep_gold = rng.next_f64() < params.gold_fraction;
    let gold_docs: HashSet<&str> = rec.gold_doc_ids.iter().map(String::as_str).collect();
    let eligible = |i: usize| !gold_docs.contains(index.chunks[i].doc_id.as_str());
    let mut chosen: Vec<usize> = Vec::new();
    for i in ranked.iter().filter_map(|id| index.by_id.get(id).copied()) {
        if chosen.len() == params.distractors {
            break;
        }
        if eligible(i) && !chosen.contains(&i) {
            chosen.push(i);
        }
    }
    let hard_negatives = chosen.len();
    let n = index.len();
    let mut tries = 0;
    while chosen.len() < params.distractors && n > 0 && tries < REJECTION_TRIES * params.distractors
    {
        tries += 1;
        let i = below(&mut rng, n);
        if eligible(i) && !chosen.contains(&i) {
            chosen.push(i);
        }
    }
    if chosen.len() < params.distractors {
        // Few eligible chunks: draw from the full list of them without replacement.
        let mut rest: Vec<usize> = (0..n)
            .filter(|&i| eligible(i) && !chosen.contains(&i))
            .collect();
        while chosen.len() < params.distractors && !rest.is_empty() {
            let j = below(&mut rng, rest.len());
            chosen.push(rest.swap_remove(j));
        }
    }
    let gold_included = keep_gold && gold.is_some();
    if let Some(g) = gold.filter(|_| gold_included) {
        chosen.push(g);
    }
    for i in (1..chosen.len()).rev() {
        let j = below(&mut rng, i + 1);
        chosen.swap(i, j);
    }
    RaftExample {
        question_id: rec.id.clone(),
        split: split.to_string(),
        chunk_ids: chosen
            .iter()
            .map(|&i| index.chunks[i].chunk_id.clone())
            .collect(),
        gold_chunk_id: gold.map(|g| index.chunks[g].chunk_id.clone()),
        gold_included,
        hard_negatives,
    }
}

/// Each question's retrieved chunk ids by rank (every rank stored), from
/// `RETRIEVAL/retrieval.parquet`; a chunk id missing from `index` is bad input, as for `rag`.
pub fn load_ranked(
    retrieval_dir: &Path,
    index: &ChunkIndex,
) -> Result<HashMap<String, Vec<String>>> {
    let path = retrieval_dir.join(files::RETRIEVAL);
    if !path.is_file() {
        return Err(TrainError::bad_input(
            &path,
            "not found (run `finefail retrieve` first)",
        ));
    }
    let ranked = ranked_chunk_ids(&read_retrieval(&path)?, usize::MAX);
    if let Some(id) = ranked
        .values()
        .flatten()
        .find(|id| index.text(id).is_none())
    {
        return Err(TrainError::bad_input(
            &path,
            format!("chunk `{id}` is not in {}", files::CHUNKS),
        ));
    }
    Ok(ranked)
}

/// The RAFT examples of a run's training and validation ids, and each question's passage texts in
/// prompt order (what [`crate::examples::build_examples`] renders). `ranked` is the question's
/// retrieval (empty map: random distractors only). A training set in which no question has a gold
/// chunk is bad input: it would train on distractors alone.
pub fn raft_contexts(
    sets: &[(&str, &[String])],
    records: &HashMap<String, QaRecord>,
    index: &ChunkIndex,
    ranked: &HashMap<String, Vec<String>>,
    params: &RaftParams,
) -> Result<RaftContexts> {
    let mut contexts = HashMap::new();
    let mut examples = Vec::new();
    for &(split, ids) in sets {
        for id in ids {
            let rec = records.get(id).ok_or_else(|| {
                TrainError::bad_input(
                    files::SPLITS,
                    format!("question `{id}` is not in qa.parquet"),
                )
            })?;
            let ex = raft_example(
                rec,
                split,
                index,
                ranked.get(id).map_or(&[][..], Vec::as_slice),
                params,
            );
            let texts = ex
                .chunk_ids
                .iter()
                .filter_map(|c| index.text(c).map(str::to_string))
                .collect();
            contexts.insert(id.clone(), texts);
            examples.push(ex);
        }
    }
    let has_train = examples.iter().any(|e| e.split == "train");
    if has_train
        && examples
            .iter()
            .all(|e| e.split != "train" || e.gold_chunk_id.is_none())
    {
        return Err(TrainError::bad_input(
            files::QA,
            "train.format = \"raft\": no training question has a gold document with a chunk in \
             chunks.parquet (the dataset has no gold passages)",
        ));
    }
    Ok((contexts, examples))
}

/// Writes `OUT/raft_examples.jsonl` atomically: one [`RaftExample`] a line, training examples in
/// training order, then validation examples.
pub fn write_examples(out_dir: &Path, examples: &[RaftExample]) -> Result<()> {
    let mut text = String::new();
    for e in examples {
        text.push_str(&serde_json::to_string(e).map_err(|e| TrainError::Other(e.to_string()))?);
        text.push('\n');
    }
    finefail_core::atomic::write_file(&out_dir.join(RAFT_EXAMPLES), text.as_bytes())?;
    Ok(())
}

/// The RAFT contexts of a run: its chunk table, its retrieval when `req.retrieval_dir` is set
/// (hard negatives; without one every distractor is drawn at random), `train.raft_*` and its seed.
pub fn load_contexts(
    req: &FinetuneRequest,
    records: &HashMap<String, QaRecord>,
    train_ids: &[String],
    val_ids: &[String],
) -> Result<RaftContexts> {
    let index = ChunkIndex::load(&req.data_dir)?;
    let ranked = match &req.retrieval_dir {
        Some(dir) => load_ranked(dir, &index)?,
        None => HashMap::new(),
    };
    let t = &req.settings.train;
    let params = RaftParams {
        distractors: t.raft_distractors,
        gold_fraction: t.raft_gold_fraction,
        seed: req.seed,
    };
    raft_contexts(
        &[("train", train_ids), ("val", val_ids)],
        records,
        &index,
        &ranked,
        &params,
    )
}
