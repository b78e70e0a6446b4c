//! Length-aware batching with a shuffling RNG of our own ([`SplitMix64`]) whose state is saved in
//! checkpoints.
//!
//! Each epoch: shuffle all example indices; cut the shuffled list into windows of
//! [`WINDOW_BATCHES`] batches; sort each window by length (longest first) and cut it into batches of
//! the effective batch size, so a batch holds examples of similar length and pads little; then
//! shuffle the order of the batches. A batch is later split into micro-batches in order, each padded
//! to its own longest example. The plan depends only on the RNG state and the lengths, never on the
//! micro-batch size, so gradient accumulation does not change which examples share a step.

use finefail_core::splitmix::{mix64, SplitMix64};

/// Batches per sorting window (larger = less padding, less randomness).
pub const WINDOW_BATCHES: usize = 16;

/// XORed into the run's seed to seed the shuffling RNG, so that the batch order is not the same
/// stream as the other draws from that seed (adapter init, dropout). Any fixed value works; this one
/// is "SHUFFLE!" in ASCII. Changing it changes every run's batch order.
pub const SHUFFLE_SALT: u64 = 0x5348_5546_464C_4521;

/// XORed into the run's seed before hashing it into per-micro-step dropout seeds, for the same
/// reason as [`SHUFFLE_SALT`]. An arbitrary fixed constant; changing it changes every run's dropout.
pub const DROPOUT_SALT: u64 = 0xD1B5_4A32_D192_ED03;

/// A uniform index below `n` (n > 0) from `rng`, by rejection so it is unbiased.
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

/// Fisher–Yates shuffle of `items` with unbiased draws from `rng`.
fn shuffle<T>(rng: &mut SplitMix64, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        let j = below(rng, i + 1);
        items.swap(i, j);
    }
}

/// The dropout seed of one micro-step: a hash of (seed, optimizer step, micro-step).
pub fn micro_step_seed(seed: u64, step: usize, micro: usize) -> u64 {
    mix64(mix64(mix64(seed ^ DROPOUT_SALT) ^ step as u64) ^ micro as u64)
}

/// One epoch's batches (indices into the examples), drawn from `rng`.
pub fn plan_epoch(lengths: &[usize], batch_size: usize, rng: &mut SplitMix64) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    shuffle(rng, &mut order);
    let mut batches = Vec::new();
    for window in order.chunks(batch_size * WINDOW_BATCHES) {
        let mut w = window.to_vec();
        w.sort_by(|&a, &b| lengths[b].cmp(&lengths[a]));
        batches.extend(w.chunks(batch_size).map(<[usize]>::to_vec));
    }
    shuffle(rng, &mut batches);
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_covers_every_example_once_and_groups_lengths() {
        let lengths: Vec<usize> = (0..50).map(|i| (i * 37) % 101).collect();
        let mut rng = SplitMix64::new(3);
        let plan = plan_epoch(&lengths, 4, &mut rng);
        let mut seen: Vec<usize> = plan.iter().flatten().copied().collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..50).collect::<Vec<_>>());
        assert_eq!(plan.len(), 13);
        // within a window sorted longest first, so each batch is non-increasing
        for b in &plan {
            assert!(b.windows(2).all(|w| lengths[w[0]] >= lengths[w[1]]));
        }
        // same state → same plan; the state moved on
        let mut again = SplitMix64::new(3);
        assert_eq!(plan_epoch(&lengths, 4, &mut again), plan);
        assert_eq!(again, rng);
        assert_ne!(rng, SplitMix64::new(3));
    }
}
