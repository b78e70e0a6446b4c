//! Hybrid retrieval by reciprocal-rank fusion (Cormack, Clarke & Büttcher, SIGIR 2009).
//!
//! Each chunk's fused score is `Σ_lists 1 / (K + rank)` with `K = 60` (the paper's constant) and `rank`
//! 1-based in each list it appears in; a chunk missing from a list contributes nothing for it. Each list
//! is cut at [`candidate_depth`] before fusion. Ties are broken by chunk position.

use std::collections::BTreeMap;

use crate::ranking::{top_k, Hit};

/// The RRF constant: dampens the weight of top ranks so no single list dominates.
pub const RRF_K: f64 = 60.0;

/// How deep each ranking is read before fusion: at least 100, and at least ten times `top_k`.
pub fn candidate_depth(top_k: usize) -> usize {
    top_k.saturating_mul(10).max(100)
}

/// Fuses rankings (each already in rank order) and keeps the best `k` by fused score.
pub fn fuse(rankings: &[&[Hit]], k: usize) -> Vec<Hit> {
    let mut fused: BTreeMap<usize, f64> = BTreeMap::new();
    for ranking in rankings {
        for (r, hit) in ranking.iter().enumerate() {
            *fused.entry(hit.index).or_insert(0.0) += 1.0 / (RRF_K + (r + 1) as f64);
        }
    }
    top_k(
        fused
            .into_iter()
            .map(|(index, score)| Hit { index, score })
            .collect(),
        k,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranking(ids: &[usize]) -> Vec<Hit> {
        ids.iter()
            .enumerate()
            .map(|(r, &index)| Hit {
                index,
                score: 10.0 - r as f64,
            })
            .collect()
    }

    #[test]
    fn fused_scores_match_hand_computation() {
        let a = ranking(&[7, 3, 5]);
        let b = ranking(&[3, 9]);
        let got = fuse(&[&a, &b], 10);
        // 3: 1/62 + 1/61; 7: 1/61; 9: 1/62; 5: 1/63.
        let want = [
            (3, 1.0 / 62.0 + 1.0 / 61.0),
            (7, 1.0 / 61.0),
            (9, 1.0 / 62.0),
            (5, 1.0 / 63.0),
        ];
        assert_eq!(got.len(), want.len());
        for (g, (i, s)) in got.iter().zip(want) {
            assert_eq!(g.index, i);
            assert!((g.score - s).abs() < 1e-15);
        }
    }

    #[test]
    fn ties_follow_chunk_order_and_k_cuts() {
        // 4 is first in one list, 2 first in the other: equal fused scores, chunk 2 wins the tie.
        let got = fuse(&[&ranking(&[4, 8]), &ranking(&[2, 6])], 3);
        let ids: Vec<usize> = got.iter().map(|h| h.index).collect();
        assert_eq!(ids, vec![2, 4, 6]);
        assert!(fuse(&[], 3).is_empty());
    }
}
