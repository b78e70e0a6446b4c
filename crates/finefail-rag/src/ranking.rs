//! The ranking every retriever returns: chunk positions with scores, in a deterministic order.

use std::cmp::Ordering;

/// One scored chunk, by its position in the chunk list (file order of `chunks.parquet`).
///
/// Retrievers work on positions so that ties can always be broken by chunk order, which makes every
/// ranking reproducible regardless of index internals or thread scheduling.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// Position of the chunk in the corpus given to the retriever.
    pub index: usize,
    /// Retriever score; higher is better.
    pub score: f64,
}

/// The canonical order of hits: score descending, then chunk position ascending (NaN scores last).
pub fn compare_hits(a: &Hit, b: &Hit) -> Ordering {
    match (a.score.is_nan(), b.score.is_nan()) {
        (false, true) => Ordering::Less,
        (true, false) => Ordering::Greater,
        _ => b
            .score
            .partial_cmp(&a.score)
            .unwrap_or(Ordering::Equal)
            .then(a.index.cmp(&b.index)),
    }
}

/// Sorts hits into the canonical order and keeps the first `k`.
pub fn top_k(mut hits: Vec<Hit>, k: usize) -> Vec<Hit> {
    if k == 0 {
        return Vec::new();
    }
    if hits.len() > k {
        // `compare_hits` is a total order, so selecting first and sorting the rest is exact.
        hits.select_nth_unstable_by(k - 1, compare_hits);
        hits.truncate(k);
    }
    hits.sort_by(compare_hits);
    hits.truncate(k);
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_are_broken_by_chunk_order() {
        let hits = vec![
            Hit {
                index: 3,
                score: 1.0,
            },
            Hit {
                index: 1,
                score: 2.0,
            },
            Hit {
                index: 0,
                score: 1.0,
            },
            Hit {
                index: 2,
                score: f64::NAN,
            },
        ];
        let got: Vec<usize> = top_k(hits, 3).iter().map(|h| h.index).collect();
        assert_eq!(got, vec![1, 0, 3]);
    }
}
