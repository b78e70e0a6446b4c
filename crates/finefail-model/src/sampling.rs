//! Next-token selection: greedy argmax, or temperature + top-p (nucleus) sampling with our own
//! seeded random generator, so a seed gives the same tokens on every platform and build.
//!
//! The generator is xoshiro256** (Blackman & Vigna) seeded through SplitMix64 from the `u64` seed;
//! a draw in `[0, 1)` is the top 53 bits of one output divided by 2^53. Probabilities are computed
//! in f64 from the f32 logits, candidates sorted by probability (ties: lower id first), and the
//! nucleus is the shortest prefix whose cumulative probability reaches `top_p` (at least one token).
//!
//! Only as much of that order as the draw reads is computed: a partial selection
//! (`select_nth_unstable_by`) brings the next block of most probable tokens to the front, and only
//! that block is sorted, doubling the block until the nucleus is complete. A nucleus of 0.9 is
//! usually a few dozen tokens of a 49,152-token vocabulary, so the per-token cost drops from a
//! full sort to about one linear pass. The sorted prefix is exactly the full sort's (the order is
//! total), so every token drawn is the one the full sort would have given. With `top_p = 1` the
//! whole order is still sorted: the draw's normalising sum runs over all of it in that order, and
//! summing in another order could move a draw across a boundary by a rounding error.

use finefail_core::splitmix::SplitMix64;

/// How to pick the next token.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplingConfig {
    /// 0 (or below) = greedy; otherwise logits are divided by it before the softmax.
    pub temperature: f32,
    /// Nucleus mass in (0, 1]; 1 keeps every token.
    pub top_p: f32,
    /// Seed of the random generator (ignored when greedy).
    pub seed: u64,
}

impl Default for SamplingConfig {
    fn default() -> Self {
        Self {
            temperature: 0.0,
            top_p: 1.0,
            seed: 0,
        }
    }
}

/// A sampler with its own random state; one per generated sequence keeps runs reproducible.
#[derive(Debug, Clone)]
pub struct Sampler {
    cfg: SamplingConfig,
    rng: Xoshiro256StarStar,
}

impl Sampler {
    /// A sampler seeded from `cfg.seed`.
    pub fn new(cfg: SamplingConfig) -> Sampler {
        Sampler {
            cfg,
            rng: Xoshiro256StarStar::seed_from_u64(cfg.seed),
        }
    }

    /// Picks a token id from one row of logits. NaN logits are never chosen (unless all are NaN).
    pub fn sample(&mut self, logits: &[f32]) -> u32 {
        if logits.is_empty() {
            return 0;
        }
        if self.cfg.temperature <= 0.0 || !self.cfg.temperature.is_finite() {
            return argmax(logits);
        }
        let t = f64::from(self.cfg.temperature);
        let max = logits
            .iter()
            .copied()
            .filter(|x| !x.is_nan())
            .fold(f32::NEG_INFINITY, f32::max);
        if !max.is_finite() {
            return argmax(logits);
        }
        let mut probs: Vec<(u32, f64)> = logits
            .iter()
            .enumerate()
            .map(|(i, &l)| {
                let p = if l.is_nan() {
                    0.0
                } else {
                    ((f64::from(l) - f64::from(max)) / t).exp()
                };
                (i as u32, p)
            })
            .collect();
        let total: f64 = probs.iter().map(|p| p.1).sum();
        let top_p = f64::from(self.cfg.top_p.clamp(0.0, 1.0));
        let mut order = SortedPrefix::new(&mut probs);
        let keep = if top_p < 1.0 {
            // The shortest prefix whose cumulative probability reaches top_p (all when it never does).
            let mut cum = 0.0;
            let mut k = 0;
            loop {
                let Some((_, p)) = order.get(k) else {
                    break k;
                };
                cum += p / total;
                k += 1;
                if cum >= top_p {
                    break k;
                }
            }
        } else {
            order.len()
        };
        let keep = keep.max(1);
        let mass: f64 = if keep == order.len() {
            order.all().iter().map(|p| p.1).sum()
        } else {
            order.prefix(keep).iter().map(|p| p.1).sum()
        };
        let target = self.rng.next_f64() * mass;
        let mut cum = 0.0;
        for k in 0..keep {
            let Some((id, p)) = order.get(k) else {
                break;
            };
            cum += p;
            if target < cum {
                return id;
            }
        }
        order.get(keep - 1).map_or(0, |(id, _)| id)
    }
}

/// Most probable first; ties: lower id first. A total order (ids are distinct), so any prefix of
/// the sorted list is unique: a partially sorted one equals the fully sorted one.
fn by_probability(a: &(u32, f64), b: &(u32, f64)) -> std::cmp::Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

/// Candidates `(id, probability)` sorted lazily: `items[..sorted]` is the exact prefix of the full
/// sort; the rest is in no particular order until read.
struct SortedPrefix<'a> {
    items: &'a mut [(u32, f64)],
    sorted: usize,
}

impl<'a> SortedPrefix<'a> {
    /// The first block sorted on demand; 64 covers most nuclei of a peaked distribution.
    const FIRST_BLOCK: usize = 64;

    fn new(items: &'a mut [(u32, f64)]) -> Self {
        Self { items, sorted: 0 }
    }

    fn len(&self) -> usize {
        self.items.len()
    }

    /// Extends the sorted prefix to at least `n` items (doubling, so reading k items costs
    /// O(V + k log k) in all).
    fn sort_to(&mut self, n: usize) {
        let n = n.min(self.items.len());
        if n <= self.sorted {
            return;
        }
        let end = n
            .max(self.sorted * 2)
            .max(Self::FIRST_BLOCK)
            .min(self.items.len());
        let rest = &mut self.items[self.sorted..];
        let m = end - self.sorted;
        if m < rest.len() {
            rest.select_nth_unstable_by(m - 1, by_probability);
        }
        rest[..m].sort_unstable_by(by_probability);
        self.sorted = end;
    }

    /// The `k`-th most probable candidate.
    fn get(&mut self, k: usize) -> Option<(u32, f64)> {
        self.sort_to(k + 1);
        self.items.get(k).copied()
    }

    /// The `n` most probable candidates, in order.
    fn prefix(&mut self, n: usize) -> &[(u32, f64)] {
        self.sort_to(n);
        &self.items[..n.min(self.items.len())]
    }

    /// Every candidate, in order.
    fn all(&mut self) -> &[(u32, f64)] {
        self.prefix(self.items.len())
    }
}

/// Index of the largest logit; the lowest index wins ties; NaN never wins over a number.
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0usize;
    for (i, &x) in logits.iter().enumerate() {
        let b = logits[best];
        if (b.is_nan() && !x.is_nan()) || x > b {
            best = i;
        }
    }
    best as u32
}

/// xoshiro256** — small, fast, well-tested; implemented here so results never depend on a crate
/// version.
#[derive(Debug, Clone)]
struct Xoshiro256StarStar {
    s: [u64; 4],
}

impl Xoshiro256StarStar {
    fn seed_from_u64(seed: u64) -> Self {
        let mut sm = SplitMix64::new(seed);
        Self {
            s: [sm.next_u64(), sm.next_u64(), sm.next_u64(), sm.next_u64()],
        }
    }

    fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference values of xoshiro256** seeded via SplitMix64(0), as produced by the published C
    /// code (splitmix64.c + xoshiro256starstar.c, prng.di.unimi.it); see tests/fixtures/make_rng_reference.py.
    #[test]
    fn xoshiro_matches_reference_stream() {
        let mut r = Xoshiro256StarStar::seed_from_u64(0);
        let got: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
        assert_eq!(
            got,
            vec![
                11091344671253066420,
                13793997310169335082,
                1900383378846508768
            ]
        );
        let mut r = Xoshiro256StarStar::seed_from_u64(42);
        let got: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
        assert_eq!(
            got,
            vec![
                1546998764402558742,
                6990951692964543102,
                12544586762248559009
            ]
        );
    }

    /// next_f64 stays in [0, 1).
    #[test]
    fn uniform_in_unit_interval() {
        let mut r = Xoshiro256StarStar::seed_from_u64(7);
        assert!((0..10_000)
            .map(|_| r.next_f64())
            .all(|x| (0.0..1.0).contains(&x)));
    }

    fn ln(ps: &[f64]) -> Vec<f32> {
        ps.iter().map(|p| p.ln() as f32).collect()
    }

    fn frequencies(cfg: SamplingConfig, logits: &[f32], n: usize) -> Vec<f64> {
        let mut s = Sampler::new(cfg);
        let mut counts = vec![0usize; logits.len()];
        for _ in 0..n {
            counts[s.sample(logits) as usize] += 1;
        }
        counts.iter().map(|&c| c as f64 / n as f64).collect()
    }

    /// Pearson chi-square statistic of observed frequencies against expected probabilities.
    fn chi_square(freq: &[f64], expected: &[f64], n: usize) -> f64 {
        freq.iter()
            .zip(expected)
            .map(|(f, e)| (f - e).powi(2) / e * n as f64)
            .sum()
    }

    #[test]
    fn greedy_is_argmax_with_lowest_index_on_ties() {
        let mut s = Sampler::new(SamplingConfig {
            temperature: 0.0,
            top_p: 0.9,
            seed: 1,
        });
        assert_eq!(s.sample(&[0.1, 2.0, -1.0, 2.0]), 1);
        assert_eq!(s.sample(&[f32::NAN, -5.0, -6.0]), 1);
        assert_eq!(s.sample(&[3.0, 3.0, 3.0]), 0);
    }

    #[test]
    fn top_p_below_the_top_probability_keeps_only_the_top_token() {
        // p = [0.2, 0.7, 0.1]: the top token alone already reaches 0.5.
        let logits = ln(&[0.2, 0.7, 0.1]);
        let mut s = Sampler::new(SamplingConfig {
            temperature: 1.0,
            top_p: 0.5,
            seed: 3,
        });
        assert!((0..2000).all(|_| s.sample(&logits) == 1));
    }

    #[test]
    fn full_distribution_statistics_with_fixed_seed() {
        // 20 000 draws from p = [0.5, 0.3, 0.2]; chi-square with 2 dof must stay below 13.8 (p = 0.001).
        let p = [0.5, 0.3, 0.2];
        let n = 20_000;
        let f = frequencies(
            SamplingConfig {
                temperature: 1.0,
                top_p: 1.0,
                seed: 1234,
            },
            &ln(&p),
            n,
        );
        assert!(chi_square(&f, &p, n) < 13.8, "{f:?}");
    }

    #[test]
    fn temperature_flattens_the_distribution() {
        // T = 2 turns p into p^(1/2) renormalised: sqrt([0.5, 0.3, 0.2]) / 1.70203 = [0.41545, 0.32180, 0.26275].
        let want = [0.41545, 0.32180, 0.26275];
        let n = 20_000;
        let f = frequencies(
            SamplingConfig {
                temperature: 2.0,
                top_p: 1.0,
                seed: 99,
            },
            &ln(&[0.5, 0.3, 0.2]),
            n,
        );
        assert!(chi_square(&f, &want, n) < 13.8, "{f:?}");
    }

    #[test]
    fn nucleus_drops_the_tail_and_renormalises() {
        // top_p 0.75 over [0.5, 0.3, 0.2]: keeps {0, 1} (0.5 + 0.3 >= 0.75) renormalised to [0.625, 0.375].
        let n = 20_000;
        let f = frequencies(
            SamplingConfig {
                temperature: 1.0,
                top_p: 0.75,
                seed: 5,
            },
            &ln(&[0.5, 0.3, 0.2]),
            n,
        );
        assert_eq!(f[2], 0.0);
        assert!(chi_square(&f[..2], &[0.625, 0.375], n) < 10.8, "{f:?}");
    }

    /// The sampler as it was before the partial selection: a full sort per token. Kept as the
    /// reference the lazy order must match token for token.
    fn sample_full_sort(rng: &mut Xoshiro256StarStar, cfg: SamplingConfig, logits: &[f32]) -> u32 {
        let t = f64::from(cfg.temperature);
        let max = logits
            .iter()
            .copied()
            .filter(|x| !x.is_nan())
            .fold(f32::NEG_INFINITY, f32::max);
        let mut probs: Vec<(u32, f64)> = logits
            .iter()
            .enumerate()
            .map(|(i, &l)| {
                let p = if l.is_nan() {
                    0.0
                } else {
                    ((f64::from(l) - f64::from(max)) / t).exp()
                };
                (i as u32, p)
            })
            .collect();
        let total: f64 = probs.iter().map(|p| p.1).sum();
        probs.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let top_p = f64::from(cfg.top_p.clamp(0.0, 1.0));
        let mut keep = probs.len();
        if top_p < 1.0 {
            let mut cum = 0.0;
            for (k, (_, p)) in probs.iter().enumerate() {
                cum += p / total;
                if cum >= top_p {
                    keep = k + 1;
                    break;
                }
            }
        }
        let kept = &probs[..keep.max(1)];
        let mass: f64 = kept.iter().map(|p| p.1).sum();
        let target = rng.next_f64() * mass;
        let mut cum = 0.0;
        for &(id, p) in kept {
            cum += p;
            if target < cum {
                return id;
            }
        }
        kept[kept.len() - 1].0
    }

    /// Logits like a language model's: a vocabulary of 49,152, a few strong candidates, a long
    /// tail, repeated values (ties) and the odd NaN.
    fn lm_logits(seed: u64, vocab: usize) -> Vec<f32> {
        let mut r = Xoshiro256StarStar::seed_from_u64(seed);
        (0..vocab)
            .map(|i| {
                let u = r.next_f64();
                match i % 997 {
                    0 => 12.0 + 4.0 * u as f32,
                    1 => f32::NAN,
                    2 => 3.0,
                    _ => (8.0 * u - 4.0) as f32,
                }
            })
            .collect()
    }

    /// Partial selection draws exactly the tokens the full sort drew: many seeds, nucleus sizes
    /// from one token to the whole vocabulary, peaked and flat temperatures.
    #[test]
    fn partial_selection_draws_the_same_tokens_as_the_full_sort() {
        for (seed, top_p, temperature) in [
            (0, 0.9, 0.7),
            (1, 0.95, 1.0),
            (2, 0.5, 0.3),
            (3, 1.0, 1.0),
            (4, 0.999, 2.0),
            (5, 0.01, 1.0),
            (6, 1.0, 0.2),
        ] {
            let cfg = SamplingConfig {
                temperature,
                top_p,
                seed,
            };
            let mut lazy = Sampler::new(cfg);
            let mut reference = Xoshiro256StarStar::seed_from_u64(seed);
            for step in 0..40 {
                let logits = lm_logits(seed * 1000 + step, 49_152);
                assert_eq!(
                    lazy.sample(&logits),
                    sample_full_sort(&mut reference, cfg, &logits),
                    "seed {seed}, top_p {top_p}, T {temperature}, step {step}"
                );
            }
        }
        // Small vocabularies (shorter than the first sorted block) and a uniform one.
        for vocab in [1usize, 2, 3, 63, 64, 65, 200] {
            let cfg = SamplingConfig {
                temperature: 1.0,
                top_p: 0.9,
                seed: vocab as u64,
            };
            let mut lazy = Sampler::new(cfg);
            let mut reference = Xoshiro256StarStar::seed_from_u64(cfg.seed);
            for step in 0..50 {
                let logits = if step % 2 == 0 {
                    lm_logits(step, vocab)
                } else {
                    vec![0.5; vocab]
                };
                assert_eq!(
                    lazy.sample(&logits),
                    sample_full_sort(&mut reference, cfg, &logits),
                    "vocab {vocab}, step {step}"
                );
            }
        }
    }

    #[test]
    fn same_seed_same_tokens() {
        let logits = ln(&[0.25, 0.25, 0.25, 0.25]);
        let cfg = SamplingConfig {
            temperature: 0.8,
            top_p: 0.95,
            seed: 42,
        };
        let (mut a, mut b) = (Sampler::new(cfg), Sampler::new(cfg));
        let xs: Vec<u32> = (0..100).map(|_| a.sample(&logits)).collect();
        let ys: Vec<u32> = (0..100).map(|_| b.sample(&logits)).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().any(|&x| x != xs[0]));
    }
}
