//! Dense retrieval: the sentence embedder (tokenizer + [`Bert`]) and cosine search over unit vectors.
//!
//! Tokenization follows sentence-transformers for all-MiniLM-L6-v2: the `tokenizer.json` file's own
//! padding and truncation (fixed at 128) are reset; texts are truncated to 256 word pieces including
//! `[CLS]`/`[SEP]` (or the position table's length, if shorter). Texts are embedded in batches of similar
//! length (sorted by token count) padded to the longest in the batch; padding is masked, so a text's
//! embedding does not depend on its batch.

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Int, Tensor, TensorData};
use sha2::{Digest, Sha256};
use tokenizers::{Tokenizer, TruncationParams};

use crate::bert::{Bert, BertConfig};
use crate::error::{RagError, Result};
use crate::ranking::{top_k, Hit};

/// Longest input in word pieces, as sentence-transformers' `max_seq_length` for all-MiniLM-L6-v2.
pub const MAX_TOKENS: usize = 256;
/// Texts per forward pass by default.
pub const DEFAULT_BATCH_SIZE: usize = 32;
/// Bumped whenever tokenization, pooling or normalisation change, so cached embeddings are invalidated.
const EMBEDDING_RECIPE: &str = "finefail-rag bert mean-pool l2 v1";

/// Row-major matrix of unit-length embeddings, one row per text.
#[derive(Debug, Clone, PartialEq)]
pub struct Embeddings {
    /// Embedding width.
    pub dim: usize,
    /// `rows × dim` values, row-major.
    pub data: Vec<f32>,
}

impl Embeddings {
    /// Number of embedded texts.
    pub fn rows(&self) -> usize {
        self.data.len().checked_div(self.dim).unwrap_or(0)
    }

    /// The embedding of text `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
}

/// A sentence embedder loaded from a Hugging Face BERT directory (`config.json`, `model.safetensors`,
/// `tokenizer.json`), such as `checkpoints/all-minilm-l6-v2`.
pub struct Embedder {
    model: Bert,
    tokenizer: Tokenizer,
    device: Device,
    dim: usize,
    max_tokens: usize,
    batch_size: usize,
    fingerprint: String,
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| RagError::io(path, e))
}

impl Embedder {
    /// Loads the embedder in `dir` onto `device` (e.g. `Device::flex()`).
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        if !dir.is_dir() {
            return Err(RagError::bad_input(format!(
                "embedder directory {} does not exist",
                dir.display()
            )));
        }
        let files: [PathBuf; 3] =
            ["config.json", "model.safetensors", "tokenizer.json"].map(|f| dir.join(f));
        let bytes: Vec<Vec<u8>> = files.iter().map(|p| read(p)).collect::<Result<_>>()?;
        let mut h = Sha256::new();
        h.update(EMBEDDING_RECIPE.as_bytes());
        for (path, b) in files.iter().zip(&bytes) {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            h.update(name.as_bytes());
            h.update(Sha256::digest(b));
        }
        let fingerprint = hex::encode(h.finalize());

        let config_text = std::str::from_utf8(&bytes[0])
            .map_err(|_| RagError::bad_input(format!("{}: not UTF-8", files[0].display())))?;
        let config = BertConfig::from_json(config_text, &files[0])?;
        let model = Bert::load(&config, &bytes[1], &files[1], device)?;

        let mut tokenizer = Tokenizer::from_bytes(&bytes[2]).map_err(|e| {
            RagError::bad_input(format!("{}: not a tokenizer: {e}", files[2].display()))
        })?;
        let max_tokens = MAX_TOKENS.min(config.max_position_embeddings);
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_tokens,
                ..Default::default()
            }))
            .map_err(|e| RagError::bad_input(format!("{}: truncation: {e}", files[2].display())))?;
        Ok(Self {
            model,
            tokenizer,
            device: device.clone(),
            dim: config.hidden_size,
            max_tokens,
            batch_size: DEFAULT_BATCH_SIZE,
            fingerprint,
        })
    }

    /// Sets the number of texts per forward pass (≥ 1); larger batches are faster and use more memory.
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// Embedding width.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// sha256 over the embedder's files and the embedding recipe: the embedder part of cache keys.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Word-piece ids of each text with `[CLS]`/`[SEP]`, truncated to the embedder's limit, unpadded.
    pub fn tokenize<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Vec<u32>>> {
        let inputs: Vec<&str> = texts.iter().map(|t| t.as_ref()).collect();
        let enc = self
            .tokenizer
            .encode_batch(inputs, true)
            .map_err(|e| RagError::Other(format!("tokenizing: {e}")))?;
        Ok(enc
            .into_iter()
            .map(|e| {
                let mut ids = e.get_ids().to_vec();
                ids.truncate(self.max_tokens);
                ids
            })
            .collect())
    }

    /// Embeds `texts`; `progress(done, total)` is called after every batch.
    pub fn embed<S: AsRef<str>>(
        &self,
        texts: &[S],
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Embeddings> {
        let total = texts.len();
        let mut data = vec![0f32; total * self.dim];
        let mut done = 0;
        // Tokenize in slices so that memory stays bounded on large corpora.
        for start in (0..total).step_by(self.batch_size * 64) {
            let end = (start + self.batch_size * 64).min(total);
            let ids = self.tokenize(&texts[start..end])?;
            let mut order: Vec<usize> = (0..ids.len()).collect();
            order.sort_by_key(|&i| (std::cmp::Reverse(ids[i].len()), i));
            for batch in order.chunks(self.batch_size) {
                let rows = self.embed_ids(batch.iter().map(|&i| ids[i].as_slice()))?;
                for (j, &i) in batch.iter().enumerate() {
                    let dst = (start + i) * self.dim;
                    data[dst..dst + self.dim]
                        .copy_from_slice(&rows[j * self.dim..(j + 1) * self.dim]);
                }
                done += batch.len();
                progress(done, total);
            }
        }
        Ok(Embeddings {
            dim: self.dim,
            data,
        })
    }

    /// One padded forward pass over already tokenized texts; returns `rows × dim` values.
    fn embed_ids<'a>(&self, seqs: impl Iterator<Item = &'a [u32]> + Clone) -> Result<Vec<f32>> {
        let b = seqs.clone().count();
        let t = seqs.clone().map(<[u32]>::len).max().unwrap_or(0).max(1);
        let mut ids = vec![0i32; b * t];
        let mut mask = vec![0f32; b * t];
        for (r, s) in seqs.enumerate() {
            for (c, &id) in s.iter().enumerate() {
                ids[r * t + c] = i32::try_from(id)
                    .map_err(|_| RagError::Other(format!("token id {id} too large")))?;
                mask[r * t + c] = 1.0;
            }
        }
        let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [b, t]), &self.device);
        let mask = Tensor::<2>::from_data(TensorData::new(mask, [b, t]), &self.device);
        self.model
            .embed(ids, mask)
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| RagError::Other(format!("reading embeddings: {e:?}")))
    }
}

/// The best `k` corpus rows for each query row by cosine similarity (dot product of unit vectors),
/// score descending, ties by corpus position.
pub fn search(
    corpus: &Embeddings,
    queries: &Embeddings,
    k: usize,
    device: &Device,
) -> Result<Vec<Vec<Hit>>> {
    if corpus.dim != queries.dim {
        return Err(RagError::bad_input(format!(
            "embedding widths differ: corpus {}, queries {}",
            corpus.dim, queries.dim
        )));
    }
    let (n, d) = (corpus.rows(), corpus.dim);
    if n == 0 {
        return Ok(vec![Vec::new(); queries.rows()]);
    }
    let c =
        Tensor::<2>::from_data(TensorData::new(corpus.data.clone(), [n, d]), device).transpose();
    let mut out = Vec::with_capacity(queries.rows());
    const BLOCK: usize = 256;
    for start in (0..queries.rows()).step_by(BLOCK) {
        let m = BLOCK.min(queries.rows() - start);
        let q = Tensor::<2>::from_data(
            TensorData::new(queries.data[start * d..(start + m) * d].to_vec(), [m, d]),
            device,
        );
        let scores = q
            .matmul(c.clone())
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| RagError::Other(format!("reading scores: {e:?}")))?;
        for row in scores.chunks_exact(n) {
            let hits = row
                .iter()
                .enumerate()
                .map(|(index, &s)| Hit {
                    index,
                    score: f64::from(s),
                })
                .collect();
            out.push(top_k(hits, k));
        }
    }
    Ok(out)
}
