//! Paired statistics for `comparison.json`: bootstrap CI, Wilcoxon, McNemar, Holm, MDE, verdicts.

pub mod arm;
pub mod bootstrap;
pub mod compare;
pub mod describe;
pub mod holm;
pub mod mcnemar;
pub mod rng;
pub mod run;
pub mod wilcoxon;
