//! SplitMix64 (Steele, Lea and Flood 2014; Vigna's `splitmix64.c`), the one generator behind every
//! seeded draw of finefail: the split and training-order shuffles, the fine-tuning batch order, the
//! seeding of the statistics' xoshiro, LoRA's Kaiming-uniform initialisation of A and the seeding
//! of the sampler's xoshiro256**.
//!
//! Written out here rather than taken from a crate so that a seed means the same numbers next year
//! whatever the dependencies do: a study's splits, batches and bootstrap resamples must be
//! reproducible. The generator: each draw adds the golden-ratio
//! increment 0x9E3779B97F4A7C15 to the state and returns [`mix64`] of it.

/// SplitMix64: tiny, fast, fully specified, and its whole state is one `u64` (which the training
/// recipe saves in its checkpoints).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator whose state starts at `state` (the first draw mixes `state + increment`).
    pub fn new(state: u64) -> Self {
        Self(state)
    }

    /// The current state: saving it and calling [`SplitMix64::new`] with it resumes the stream.
    pub fn state(&self) -> u64 {
        self.0
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix64(self.0)
    }

    /// A uniform draw in [0, 1) from the top 53 bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// SplitMix64's output function, a good 64-bit mixer on its own (used to hash seeds together).
pub fn mix64(x: u64) -> u64 {
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_values() {
        // Vigna's splitmix64.c from state 0 and from state 1234567.
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(r.next_u64(), 0x06C4_5D18_8009_454F);
        let mut r = SplitMix64::new(1234567);
        for e in [
            6457827717110365317u64,
            3203168211198807973,
            9817491932198370423,
        ] {
            assert_eq!(r.next_u64(), e);
        }
    }

    #[test]
    fn the_state_resumes_the_stream() {
        let mut a = SplitMix64::new(42);
        a.next_u64();
        let mut b = SplitMix64::new(a.state());
        assert_eq!(a.next_u64(), b.next_u64());
    }
}
