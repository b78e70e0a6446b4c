//! SplitMix64 (Vigna's `splitmix64.c`): the model crate's one seeded generator, behind LoRA's
//! Kaiming-uniform initialisation of A (`lora`) and the seeding of the sampler's xoshiro256**
//! (`sampling`).
//!
//! A copy of `finefail_data::splitmix::SplitMix64`, kept because this crate depends on no crate of
//! ours (the workspace's other crates all use that one); the two produce identical streams (same
//! increment, same mixer, checked against the same reference values). Written out rather than
//! taken from a crate so that a seed means the same adapter and the same samples next year.

/// SplitMix64 state; each draw adds the golden-ratio increment and mixes.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator whose state starts at `state`.
    pub(crate) fn new(state: u64) -> Self {
        Self(state)
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform draw in [0, 1) from the top 53 bits.
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_values() {
        // Vigna's splitmix64.c from state 0 (the same values finefail_data's copy is tested with).
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(r.next_u64(), 0x06C4_5D18_8009_454F);
    }
}
