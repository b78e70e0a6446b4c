//! The bootstrap's random numbers: xoshiro256** seeded through SplitMix64
//! ([`finefail_core::splitmix`]).
//!
//! Our own generator (rather than a crate's) so that a seed gives the same resamples on every
//! platform and every version of finefail; both algorithms are the public-domain reference ones by
//! Blackman and Vigna (<https://prng.di.unimi.it/>).

use finefail_core::splitmix::SplitMix64;

/// xoshiro256** state; construct with [`Xoshiro256::seed_from`].
#[derive(Debug, Clone)]
pub struct Xoshiro256 {
    s: [u64; 4],
}

impl Xoshiro256 {
    /// Seeds the four state words with consecutive SplitMix64 outputs (the authors' recommendation).
    pub fn seed_from(seed: u64) -> Self {
        let mut sm = SplitMix64::new(seed);
        Xoshiro256 {
            s: [sm.next_u64(), sm.next_u64(), sm.next_u64(), sm.next_u64()],
        }
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// A uniform index in `0..n` by Lemire's multiply-shift (bias < n / 2^64, negligible here).
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// A uniform draw in the open interval (0, 1) from the top 53 bits (never 0, so `ln` is safe).
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
    }

    /// A standard normal draw (Marsaglia's polar method; the second value is discarded so that a
    /// draw depends only on the generator's state).
    pub fn normal(&mut self) -> f64 {
        loop {
            let u = 2.0 * self.uniform() - 1.0;
            let v = 2.0 * self.uniform() - 1.0;
            let s = u * u + v * v;
            if s > 0.0 && s < 1.0 {
                return u * (-2.0 * s.ln() / s).sqrt();
            }
        }
    }

    /// A Gamma(`shape`, 1) draw (Marsaglia & Tsang 2000; shapes below 1 through the
    /// `Gamma(a + 1)·U^(1/a)` boost).
    pub fn gamma(&mut self, shape: f64) -> f64 {
        if shape < 1.0 {
            let g = self.gamma(shape + 1.0);
            return g * self.uniform().powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let v = 1.0 + c * x;
            if v <= 0.0 {
                continue;
            }
            let v = v * v * v;
            let u = self.uniform();
            if u < 1.0 - 0.0331 * x * x * x * x || u.ln() < 0.5 * x * x + d * (1.0 - v + v.ln()) {
                return d * v;
            }
        }
    }

    /// A chi-square draw with `df` degrees of freedom (`2·Gamma(df/2)`).
    pub fn chi_square(&mut self, df: f64) -> f64 {
        2.0 * self.gamma(df / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xoshiro_reference_values() {
        // xoshiro256** with state [1, 2, 3, 4]: first outputs from the reference C code.
        let mut r = Xoshiro256 { s: [1, 2, 3, 4] };
        assert_eq!(r.next_u64(), 11520);
        assert_eq!(r.next_u64(), 0);
        assert_eq!(r.next_u64(), 1509978240);
        assert_eq!(r.next_u64(), 1215971899390074240);
    }

    /// Sample moments within ~5 standard errors of the distribution's own.
    fn check_moments(draws: &[f64], mean: f64, var: f64) {
        let n = draws.len() as f64;
        let m = draws.iter().sum::<f64>() / n;
        let v = draws.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0);
        assert!(
            (m - mean).abs() < 5.0 * (var / n).sqrt(),
            "mean {m} vs {mean}"
        );
        // sd of the sample variance ≈ var·√(2/n) for near-normal data; heavier tails get room.
        assert!((v - var).abs() < 0.1 * var, "variance {v} vs {var}");
    }

    #[test]
    fn normal_and_chi_square_have_their_moments() {
        let mut r = Xoshiro256::seed_from(11);
        let z: Vec<f64> = (0..200_000).map(|_| r.normal()).collect();
        check_moments(&z, 0.0, 1.0);
        for df in [1.0, 2.0, 7.0, 199.0] {
            let x: Vec<f64> = (0..200_000).map(|_| r.chi_square(df)).collect();
            assert!(x.iter().all(|v| *v > 0.0));
            check_moments(&x, df, 2.0 * df);
        }
        // P(χ²₁ ≤ 0.0039321) = 0.05 and P(χ²₁ ≤ 3.8414588) = 0.95 (tables).
        let x: Vec<f64> = (0..200_000).map(|_| r.chi_square(1.0)).collect();
        let below = |c: f64| x.iter().filter(|v| **v <= c).count() as f64 / x.len() as f64;
        assert!((below(0.003_932_1) - 0.05).abs() < 0.004);
        assert!((below(3.841_458_8) - 0.95).abs() < 0.004);
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut r = Xoshiro256::seed_from(7);
        let mut seen = [0usize; 5];
        for _ in 0..5000 {
            seen[r.below(5)] += 1;
        }
        assert!(seen.iter().all(|&c| (800..1200).contains(&c)), "{seen:?}");
    }
}
