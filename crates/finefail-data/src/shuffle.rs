//! The seeded shuffle behind every split: [`SplitMix64`] driving a Fisher–Yates shuffle.
//!
//! Written out here (not taken from a crate) so the permutation for a seed never changes with a
//! dependency upgrade: a study's training subsets must be the same next year. The generator starts
//! at `state = seed ^ stream`; the shuffle walks i from n−1 down to 1 and swaps item i with item
//! `draw % (i + 1)`.

use finefail_core::splitmix::SplitMix64;

/// Stream constant of the test/val split (so a split seed and a training seed never collide).
pub const SPLIT_STREAM: u64 = 0x5350_4c49_545f_5345; // "SPLIT_SE"
/// Stream constant of the training orders.
pub const TRAIN_STREAM: u64 = 0x5452_4149_4e5f_4f52; // "TRAIN_OR"

/// Shuffles `items` in place, deterministically for (`seed`, `stream`).
pub fn shuffle<T>(items: &mut [T], seed: u64, stream: u64) {
    let mut rng = SplitMix64::new(seed ^ stream);
    for i in (1..items.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffle_is_a_deterministic_permutation() {
        let mut a: Vec<u32> = (0..100).collect();
        let mut b = a.clone();
        shuffle(&mut a, 7, TRAIN_STREAM);
        shuffle(&mut b, 7, TRAIN_STREAM);
        assert_eq!(a, b);
        let mut c: Vec<u32> = (0..100).collect();
        shuffle(&mut c, 8, TRAIN_STREAM);
        assert_ne!(a, c);
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
    }
}
