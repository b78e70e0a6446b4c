//! The seeded shuffle behind every split: SplitMix64 driving a Fisher–Yates shuffle.
//!
//! Written out here (not taken from a crate) so the permutation for a seed never changes with a
//! dependency upgrade: a study's training subsets must be the same next year. The generator:
//! `state = seed ^ stream`; each draw adds 0x9E3779B97F4A7C15 to the state and mixes it with
//! SplitMix64's finaliser. The shuffle walks i from n−1 down to 1 and swaps item i with item
//! `draw % (i + 1)`.

/// Stream constant of the test/val split (so a split seed and a training seed never collide).
pub const SPLIT_STREAM: u64 = 0x5350_4c49_545f_5345; // "SPLIT_SE"
/// Stream constant of the training orders.
pub const TRAIN_STREAM: u64 = 0x5452_4149_4e5f_4f52; // "TRAIN_OR"

/// SplitMix64: tiny, fast, and fully specified.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator for `seed` on `stream`.
    pub fn new(seed: u64, stream: u64) -> Self {
        Self(seed ^ stream)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Shuffles `items` in place, deterministically for (`seed`, `stream`).
pub fn shuffle<T>(items: &mut [T], seed: u64, stream: u64) {
    let mut rng = SplitMix64::new(seed, stream);
    for i in (1..items.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_reference_values() {
        // Reference values of SplitMix64 seeded with 1234567 (Vigna's splitmix64.c).
        let mut r = SplitMix64::new(1234567, 0);
        let expected = [
            6457827717110365317u64,
            3203168211198807973,
            9817491932198370423,
        ];
        for e in expected {
            assert_eq!(r.next_u64(), e);
        }
    }

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
