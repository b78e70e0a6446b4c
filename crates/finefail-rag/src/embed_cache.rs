//! On-disk cache of corpus embeddings, keyed by the embedder's fingerprint and the chunks' texts.
//!
//! Default location `$FINEFAIL_CACHE/embeddings/`, else `~/.cache/finefail/embeddings/` (overridable). One file per key, `{key}.emb`:
//! the magic `FFEMB1\n`, rows and width as little-endian u64, then the f32 values little-endian.
//! Files are written atomically; a file that does not parse is ignored and rewritten.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::dense::{Embedder, Embeddings};
use crate::error::Result;

const MAGIC: &[u8] = b"FFEMB1\n";

/// The default cache directory, `embeddings` under the cache root shared with the judge cache
/// (`$FINEFAIL_CACHE`, else `~/.cache/finefail`).
pub fn default_cache_dir() -> Result<PathBuf> {
    Ok(finefail_core::cache_root().join("embeddings"))
}

/// Cache key: sha256 over the embedder fingerprint and every text (length-prefixed, in order).
pub fn cache_key<S: AsRef<str>>(embedder_fingerprint: &str, texts: &[S]) -> String {
    let mut h = Sha256::new();
    h.update(embedder_fingerprint.as_bytes());
    h.update((texts.len() as u64).to_le_bytes());
    for t in texts {
        let t = t.as_ref().as_bytes();
        h.update((t.len() as u64).to_le_bytes());
        h.update(t);
    }
    hex::encode(h.finalize())
}

fn encode(e: &Embeddings) -> Vec<u8> {
    let mut out = Vec::with_capacity(MAGIC.len() + 16 + e.data.len() * 4);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(e.rows() as u64).to_le_bytes());
    out.extend_from_slice(&(e.dim as u64).to_le_bytes());
    for v in &e.data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

fn decode(bytes: &[u8], rows: usize, dim: usize) -> Option<Embeddings> {
    let body = bytes.strip_prefix(MAGIC)?;
    let (r, rest) = body.split_at_checked(8)?;
    let (d, rest) = rest.split_at_checked(8)?;
    let r = u64::from_le_bytes(r.try_into().ok()?) as usize;
    let d = u64::from_le_bytes(d.try_into().ok()?) as usize;
    if r != rows || d != dim || rest.len() != rows.checked_mul(dim)?.checked_mul(4)? {
        return None;
    }
    let data = rest
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Some(Embeddings { dim, data })
}

/// Whether the embeddings came from the cache or were computed (and then stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Read from the cache file.
    Hit,
    /// Computed and written to the cache.
    Miss,
}

/// Embeddings of `texts` from the cache in `dir`, or computed with `embedder` and stored there.
/// `progress(done, total)` is called while computing.
pub fn embed_cached<S: AsRef<str>>(
    embedder: &Embedder,
    texts: &[S],
    dir: &Path,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(Embeddings, CacheOutcome, PathBuf)> {
    let path = dir.join(format!("{}.emb", cache_key(embedder.fingerprint(), texts)));
    if let Ok(bytes) = std::fs::read(&path) {
        if let Some(e) = decode(&bytes, texts.len(), embedder.dim()) {
            progress(texts.len(), texts.len());
            return Ok((e, CacheOutcome::Hit, path));
        }
    }
    let e = embedder.embed(texts, progress)?;
    finefail_core::atomic::write_file(&path, &encode(&e))?;
    Ok((e, CacheOutcome::Miss, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_depends_on_texts_order_and_boundaries() {
        let a = cache_key("e", &["ab", "c"]);
        assert_eq!(a, cache_key("e", &["ab", "c"]));
        assert_ne!(a, cache_key("e", &["a", "bc"]));
        assert_ne!(a, cache_key("e", &["c", "ab"]));
        assert_ne!(a, cache_key("f", &["ab", "c"]));
    }

    #[test]
    fn encode_decode_roundtrip_and_rejects_garbage() {
        let e = Embeddings {
            dim: 2,
            data: vec![1.0, -2.5, 0.0, 3.25],
        };
        let bytes = encode(&e);
        assert_eq!(decode(&bytes, 2, 2), Some(e));
        assert_eq!(decode(&bytes, 3, 2), None);
        assert_eq!(decode(&bytes[..bytes.len() - 1], 2, 2), None);
        assert_eq!(decode(b"nonsense", 2, 2), None);
    }
}
