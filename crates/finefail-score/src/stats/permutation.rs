//! The exact paired sign-flip permutation test of the mean difference (one training seed).
//!
//! Under "fine-tuning changes nothing" each question's difference is as likely to have the other
//! sign, so the observed |Σ d| is compared with |Σ ±d| over sign flips. Unlike Wilcoxon it tests
//! the *mean* (what the CI is about), and unlike a normal approximation it is exact with few
//! non-zero differences: 8 equal non-zero differences, 7 up and 1 down, give p = 18/256 ≈ 0.070.

use super::rng::Xoshiro256;

/// Up to this many non-zero differences every sign pattern is enumerated (2^20 ≈ 1 M sums).
pub const EXACT_MAX_NONZERO: usize = 20;

/// Random sign patterns drawn beyond [`EXACT_MAX_NONZERO`].
pub const MONTE_CARLO_FLIPS: usize = 100_000;

/// How the p was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlipMethod {
    /// Every sign pattern enumerated.
    Exact,
    /// [`MONTE_CARLO_FLIPS`] seeded random patterns, p = (1 + hits)/(1 + draws).
    MonteCarlo,
}

/// Two-sided p of the sign-flip test of mean(diffs) = 0. Zero differences carry no sign and are
/// left out; none left gives p = 1. Sums within a relative 1e-9 of the observed one count as
/// ties (at least as extreme), so rounding never turns a tie into a miss.
pub fn sign_flip_p(diffs: &[f64], seed: u64) -> (f64, FlipMethod) {
    let nz: Vec<f64> = diffs.iter().copied().filter(|d| *d != 0.0).collect();
    if nz.is_empty() {
        return (1.0, FlipMethod::Exact);
    }
    let observed = nz.iter().sum::<f64>().abs();
    let tol = 1e-9 * nz.iter().map(|d| d.abs()).sum::<f64>();
    let extreme = |s: f64| s.abs() >= observed - tol;
    if nz.len() <= EXACT_MAX_NONZERO {
        // Gray code: one sign changes per step, so each pattern's sum costs one addition.
        let m = nz.len();
        let mut signs = vec![1.0f64; m];
        let mut sum: f64 = nz.iter().sum();
        let mut hits = usize::from(extreme(sum));
        for k in 1..(1usize << m) {
            let j = k.trailing_zeros() as usize;
            sum -= 2.0 * signs[j] * nz[j];
            signs[j] = -signs[j];
            hits += usize::from(extreme(sum));
        }
        (hits as f64 / (1u64 << m) as f64, FlipMethod::Exact)
    } else {
        let mut rng = Xoshiro256::seed_from(seed);
        let mut hits = 0usize;
        for _ in 0..MONTE_CARLO_FLIPS {
            let mut sum = 0.0;
            let mut bits = 0u64;
            for (i, d) in nz.iter().enumerate() {
                if i % 64 == 0 {
                    bits = rng.next_u64();
                }
                sum += if bits & 1 == 1 { *d } else { -*d };
                bits >>= 1;
            }
            hits += usize::from(extreme(sum));
        }
        let p = (1 + hits) as f64 / (1 + MONTE_CARLO_FLIPS) as f64;
        (p.min(1.0), FlipMethod::MonteCarlo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_hand() {
        // Seven +1 and one −1: |sum| = 6; patterns with |sum| ≥ 6: all +, all −, and the 8 + 8
        // with exactly one sign differing from the rest → 18 of 256.
        let mut d = vec![1.0; 7];
        d.push(-1.0);
        assert_eq!(sign_flip_p(&d, 0), (18.0 / 256.0, FlipMethod::Exact));
        // Zeros are ignored; none non-zero → 1.
        assert_eq!(sign_flip_p(&[0.0, 0.0], 0).0, 1.0);
        // One difference: p = 1 (both signs equally extreme).
        assert_eq!(sign_flip_p(&[0.0, 0.3], 0).0, 1.0);
    }

    #[test]
    fn monte_carlo_beyond_the_exact_limit() {
        // 30 differences of +1: the exact p is 2/2^30; Monte Carlo gives its floor 1/(1 + draws).
        let (p, how) = sign_flip_p(&[1.0; 30], 3);
        assert_eq!(how, FlipMethod::MonteCarlo);
        assert_eq!(p, 1.0 / (1 + MONTE_CARLO_FLIPS) as f64);
    }
}
