//! The pivot's minimum detectable effect means what it says: whole studies simulated at a true
//! difference equal to the reported MDE, each tested by the pivot at α/m, are called in 80 % of
//! them (± 0.05). The control: the MDE the report printed before (a t with the true standard error
//! and Satterthwaite's degrees of freedom) is found far less often at S = 2 — so this check can
//! fail.

use finefail_score::stats::components::{SeedQuestionSpread, VarianceComponents};
use finefail_score::stats::pivot::pivot_test;
use finefail_score::stats::pivot_power::{pivot_mde, Design};
use finefail_score::stats::power::minimum_detectable_effect;
use finefail_score::stats::rng::Xoshiro256;

/// Pivot draws per simulated study.
const DRAWS: usize = 4_000;

/// Differences `[seed][question]` of one study: `δ + σ_a·z_s + σ_q·z_i + σ_e·z_si`.
fn study(c: &VarianceComponents, d: &Design, effect: f64, rng: &mut Xoshiro256) -> Vec<Vec<f64>> {
    let shifts: Vec<f64> = (0..d.seeds).map(|_| c.seed_sd * rng.normal()).collect();
    let shared: Vec<f64> = (0..d.questions)
        .map(|_| c.question_sd * rng.normal())
        .collect();
    shifts
        .iter()
        .map(|a| {
            shared
                .iter()
                .map(|q| effect + a + q + c.residual_sd * rng.normal())
                .collect()
        })
        .collect()
}

/// Share of `studies` simulated studies at `effect` whose pivot p is below α/m.
fn simulated_power(
    c: &VarianceComponents,
    d: &Design,
    effect: f64,
    studies: usize,
    seed: u64,
) -> f64 {
    let mut rng = Xoshiro256::seed_from(seed);
    let level = d.alpha / d.family as f64;
    let called = (0..studies)
        .filter(|k| {
            let diffs = study(c, d, effect, &mut rng);
            let spread = SeedQuestionSpread::new(&diffs).expect("≥ 2 seeds and questions");
            pivot_test(&spread, DRAWS, *k as u64, 1.0 - level).p < level
        })
        .count();
    called as f64 / studies as f64
}

fn components(seed_sd: f64) -> VarianceComponents {
    VarianceComponents {
        seed_sd,
        question_sd: 0.2,
        residual_sd: 0.22,
    }
}

#[test]
fn power_at_the_reported_mde_is_eighty_percent() {
    let cases = [
        (components(0.06), 2, 50, 1),
        (components(0.04), 3, 100, 4),
        (components(0.08), 5, 60, 2),
        (components(0.0), 2, 200, 3),
    ];
    for (i, (c, seeds, questions, family)) in cases.into_iter().enumerate() {
        let d = Design {
            seeds,
            questions,
            alpha: 0.05,
            family,
        };
        let mde = pivot_mde(&c, &d, 11).expect("a design with variance");
        let power = simulated_power(&c, &d, mde, 1_500, 100 + i as u64);
        assert!(
            (power - 0.8).abs() <= 0.05,
            "S = {seeds}, n = {questions}, m = {family}, τ = {}: power {power} at the MDE {mde}",
            c.seed_sd
        );
    }
}

#[test]
fn the_satterthwaite_mde_overstates_the_power_of_two_seeds() {
    let c = components(0.06);
    let d = Design {
        seeds: 2,
        questions: 50,
        alpha: 0.05,
        family: 1,
    };
    // The old MDE at the true components: se from the true variance, Satterthwaite df from the
    // expected mean squares.
    let (a, q, e) = c.expected_mean_squares(2, 50);
    let se = c.variance_of_mean(2, 50).sqrt();
    let df = (a + q - e).powi(2) / (a * a + q * q / 49.0 + e * e / 49.0);
    let old = minimum_detectable_effect(se, df, 0.05, 1).expect("finite se");
    let new = pivot_mde(&c, &d, 11).expect("a design with variance");
    let power = simulated_power(&c, &d, old, 1_500, 7);
    assert!(old < new, "old {old}, new {new}");
    assert!(power < 0.7, "power {power} at the old MDE {old}");
}
