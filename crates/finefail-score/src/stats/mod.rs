//! Paired statistics for `comparison.json`: the test of the mean (sign-flip permutation with one
//! training seed, a seeds × questions pivot with several), CIs, Holm per family, MDE, verdicts;
//! Wilcoxon and McNemar as extra columns.

pub mod alternatives;
pub mod bootstrap;
pub mod compare;
pub mod components;
pub mod describe;
pub mod family;
pub mod holm;
pub mod inference;
pub mod mcnemar;
pub mod permutation;
pub mod pivot;
pub mod pivot_power;
pub mod power;
pub mod rng;
pub mod run;
pub mod simulate;
pub mod trend;
pub mod wilcoxon;
