//! Corpus chunking, by characters (default: 1,000 with 150 overlap) or by the *embedder's*
//! tokenizer tokens — never the generator's, so a dataset's retrieval is the same whichever model
//! answers. Chunks cover their document without gaps: `text == document[start..end]` (character
//! offsets) and consecutive chunks overlap or touch, so together they reassemble the document.

use crate::error::{DataError, Result};
use crate::schema::{Chunk, Document};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// What a chunk's size and overlap count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChunkUnit {
    Chars,
    Tokens,
}

impl ChunkUnit {
    /// Parses `chars` or `tokens`.
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        match s {
            "chars" => Ok(Self::Chars),
            "tokens" => Ok(Self::Tokens),
            _ => Err(format!("chunk unit `{s}` is unknown; use chars or tokens")),
        }
    }
}

/// How to cut documents into chunks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkConfig {
    pub unit: ChunkUnit,
    pub size: usize,
    pub overlap: usize,
}

impl Default for ChunkConfig {
    fn default() -> Self {
        Self {
            unit: ChunkUnit::Chars,
            size: 1000,
            overlap: 150,
        }
    }
}

impl ChunkConfig {
    /// Size must be positive and the overlap smaller than the size.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.size == 0 {
            return Err("chunk size must be at least 1".into());
        }
        if self.overlap >= self.size {
            return Err(format!(
                "chunk overlap ({}) must be smaller than the chunk size ({})",
                self.overlap, self.size
            ));
        }
        Ok(())
    }
}

/// Cuts every document; `tokenizer` (a `tokenizer.json` or a folder holding one) is needed for
/// token chunks.
pub fn chunk_corpus(
    documents: &[Document],
    config: &ChunkConfig,
    tokenizer: Option<&Path>,
) -> Result<Vec<Chunk>> {
    config
        .validate()
        .map_err(|m| DataError::bad_input("--chunk-size", m))?;
    match config.unit {
        ChunkUnit::Chars => Ok(documents
            .iter()
            .flat_map(|d| chunk_chars(d, config.size, config.overlap))
            .collect()),
        ChunkUnit::Tokens => {
            let path = tokenizer.ok_or_else(|| {
                DataError::bad_input(
                    "--tokenizer",
                    "token chunks need the embedder's tokenizer: pass --tokenizer DIR",
                )
            })?;
            let tok = load_tokenizer(path)?;
            let mut out = Vec::new();
            for d in documents {
                out.extend(chunk_tokens(d, &tok, config.size, config.overlap, path)?);
            }
            Ok(out)
        }
    }
}

/// Character chunks of at most `size` characters; a cut is moved back to a space when one lies in
/// the chunk's second half, and the next chunk starts `overlap` characters earlier (moved forward
/// to a word start when one lies in the overlap).
pub fn chunk_chars(doc: &Document, size: usize, overlap: usize) -> Vec<Chunk> {
    let chars: Vec<char> = doc.text.chars().collect();
    let n = chars.len();
    let mut bounds = Vec::new();
    let mut start = 0usize;
    while start < n || (n == 0 && bounds.is_empty()) {
        let mut end = (start + size).min(n);
        if end < n {
            if let Some(p) = (start + size / 2 + 1..end)
                .rev()
                .find(|&p| chars[p].is_whitespace())
            {
                end = p;
            }
        }
        bounds.push((start, end));
        if end >= n {
            break;
        }
        let mut next = end.saturating_sub(overlap).max(start + 1);
        if let Some(p) = (next..end).find(|&p| chars[p].is_whitespace()) {
            if p + 1 < end {
                next = p + 1;
            }
        }
        start = next;
    }
    make_chunks(doc, &chars, &bounds)
}

fn make_chunks(doc: &Document, chars: &[char], bounds: &[(usize, usize)]) -> Vec<Chunk> {
    bounds
        .iter()
        .enumerate()
        .map(|(i, &(s, e))| Chunk {
            chunk_id: format!("{}#{i}", doc.doc_id),
            doc_id: doc.doc_id.clone(),
            start: s as u64,
            end: e as u64,
            text: chars[s..e].iter().collect(),
        })
        .collect()
}

fn load_tokenizer(path: &Path) -> Result<tokenizers::Tokenizer> {
    let file = if path.is_dir() {
        path.join("tokenizer.json")
    } else {
        path.to_path_buf()
    };
    let mut tok = tokenizers::Tokenizer::from_file(&file)
        .map_err(|e| DataError::bad_input(&file, format!("cannot load tokenizer: {e}")))?;
    // The embedder's file pads and truncates at 128; chunking must see every token.
    tok.with_truncation(None)
        .map_err(|e| DataError::bad_input(&file, e.to_string()))?;
    tok.with_padding(None);
    Ok(tok)
}

/// Token chunks: windows of `size` tokens advancing by `size - overlap`; the first chunk starts at
/// character 0, the last ends at the document's end, and a chunk reaches at least to the next
/// chunk's start, so the text between tokens is never lost.
pub fn chunk_tokens(
    doc: &Document,
    tok: &tokenizers::Tokenizer,
    size: usize,
    overlap: usize,
    path: &Path,
) -> Result<Vec<Chunk>> {
    let chars: Vec<char> = doc.text.chars().collect();
    let enc = tok
        .encode_char_offsets(doc.text.as_str(), false)
        .map_err(|e| {
            DataError::bad_input(
                path,
                format!("tokenizer failed on document `{}`: {e}", doc.doc_id),
            )
        })?;
    let offsets = enc.get_offsets();
    let t = offsets.len();
    if t == 0 {
        return Ok(make_chunks(doc, &chars, &[(0, chars.len())]));
    }
    let stride = size - overlap;
    let mut windows = Vec::new();
    let mut i = 0;
    loop {
        let last = (i + size).min(t) - 1;
        windows.push((offsets[i].0, offsets[last].1));
        if last + 1 >= t {
            break;
        }
        i += stride;
    }
    let k = windows.len();
    let mut bounds = Vec::with_capacity(k);
    for (w, &(s, e)) in windows.iter().enumerate() {
        let start = if w == 0 { 0 } else { s };
        let end = if w + 1 == k {
            chars.len()
        } else {
            e.max(windows[w + 1].0)
        };
        bounds.push((start.min(chars.len()), end.min(chars.len())));
    }
    Ok(make_chunks(doc, &chars, &bounds))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Document {
        Document {
            doc_id: "d".into(),
            title: String::new(),
            text: text.into(),
        }
    }

    /// Chunks must cover the document: each chunk is the document slice it names, the first starts
    /// at 0, the last ends at the end, and there is no gap between neighbours.
    fn assert_covers(d: &Document, chunks: &[Chunk]) {
        let chars: Vec<char> = d.text.chars().collect();
        assert_eq!(chunks.first().map(|c| c.start), Some(0));
        assert_eq!(chunks.last().map(|c| c.end as usize), Some(chars.len()));
        for (i, c) in chunks.iter().enumerate() {
            assert_eq!(c.chunk_id, format!("d#{i}"));
            let slice: String = chars[c.start as usize..c.end as usize].iter().collect();
            assert_eq!(slice, c.text);
            if i > 0 {
                assert!(c.start <= chunks[i - 1].end, "gap before chunk {i}");
                assert!(c.start > chunks[i - 1].start, "no progress at chunk {i}");
            }
        }
        // Reassemble: every chunk's new part appended in order gives the document back.
        let mut rebuilt = String::new();
        let mut covered = 0usize;
        for c in chunks {
            let from = covered.max(c.start as usize);
            rebuilt.extend(&chars[from..c.end as usize]);
            covered = c.end as usize;
        }
        assert_eq!(rebuilt, d.text);
    }

    #[test]
    fn char_chunks_cover_and_respect_size() {
        let text: String = (0..500).map(|i| format!("wörd{i} ")).collect::<String>() + "tail";
        let d = doc(&text);
        for (size, overlap) in [(100, 15), (37, 0), (1000, 150), (5, 4), (10000, 10)] {
            let chunks = chunk_chars(&d, size, overlap);
            assert_covers(&d, &chunks);
            assert!(chunks.iter().all(|c| (c.end - c.start) as usize <= size));
        }
    }

    #[test]
    fn char_chunks_prefer_word_boundaries() {
        let d = doc("alpha beta gamma delta epsilon zeta eta theta iota kappa");
        let chunks = chunk_chars(&d, 20, 5);
        assert_covers(&d, &chunks);
        for c in &chunks[..chunks.len() - 1] {
            let next = d.text.chars().nth(c.end as usize).unwrap();
            assert!(next.is_whitespace(), "chunk `{}` cut inside a word", c.text);
        }
    }

    #[test]
    fn empty_and_tiny_documents() {
        assert_covers(&doc("x"), &chunk_chars(&doc("x"), 10, 2));
        let empty = chunk_chars(&doc(""), 10, 2);
        assert_eq!(empty.len(), 1);
        assert_eq!(empty[0].text, "");
    }

    #[test]
    fn config_is_validated() {
        assert!(ChunkConfig {
            unit: ChunkUnit::Chars,
            size: 10,
            overlap: 10
        }
        .validate()
        .is_err());
        assert!(ChunkConfig {
            unit: ChunkUnit::Chars,
            size: 0,
            overlap: 0
        }
        .validate()
        .is_err());
        assert!(ChunkConfig::default().validate().is_ok());
    }
}
