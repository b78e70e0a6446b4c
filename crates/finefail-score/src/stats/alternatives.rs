//! Comparisons with the alternatives to one fine-tune (issue 25, DESIGN "Statistics"): the
//! in-context arm `icl{K}` against the base model and each size N against `icl{K}`
//! (`kind: "vs_icl"`), and, in a study with several training formats, size N in one format
//! against size N in another (`kind: "vs_format"`). All go through the same seed-aware machinery
//! as `vs_base` ([`super::compare`]): against the base arm each seed's difference is taken with the
//! one base arm; between two seeded arms seeds are paired by id (seed s of one against seed s of
//! the other: the in-context arm's demonstrations are a prefix of that seed's training order, and
//! two formats at N train on the same N questions).

use super::compare::{
    compare_with, pair_by_seed, Comparison, ComparisonKind, Entry, QuestionScores, Reference,
    StatsConfig,
};
use crate::{Metric, ScoreError};
use finefail_core::AnswerContext;

/// The identifying fields shared by every alternative comparison.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// Dataset name.
    pub dataset: &'a str,
    /// Model name.
    pub model: &'a str,
    /// What the arms answered from.
    pub context: AnswerContext,
    /// The metric.
    pub metric: Metric,
    /// Whether the metric is primary for this dataset.
    pub primary: bool,
}

impl<'a> Subject<'a> {
    fn entry(&self, kind: ComparisonKind, n: u64) -> Entry<'a> {
        Entry {
            dataset: self.dataset,
            model: self.model,
            n,
            kind,
            reference_n: 0,
            context: self.context,
            metric: self.metric,
            primary: self.primary,
            format: None,
            reference_format: None,
            icl_shots: None,
        }
    }
}

/// `icl{K}` against the base model (`vs_icl`, `n` 0): the in-context arm is the treated side, its
/// seeds (which demonstrations it saw) the training variance, the base arm the reference.
pub fn compare_icl_with_base(
    subject: &Subject<'_>,
    shots: u64,
    base: &QuestionScores,
    icl: &[(u64, QuestionScores)],
    cfg: &StatsConfig,
) -> Result<Comparison, ScoreError> {
    let entry = Entry {
        icl_shots: Some(shots),
        ..subject.entry(ComparisonKind::VsIcl, 0)
    };
    let seeds: Vec<(u64, &QuestionScores)> = icl.iter().map(|(s, q)| (*s, q)).collect();
    compare_with(&entry, &Reference::Base(base), &seeds, cfg)
}

/// Size N (in `format` when the study names formats) against `icl{K}` (`vs_icl`, `n` > 0): seeds
/// paired by id, `base_mean` the in-context arm's mean. Bad input when they share no seed.
pub fn compare_size_with_icl(
    subject: &Subject<'_>,
    n: u64,
    format: Option<&str>,
    shots: u64,
    icl: &[(u64, QuestionScores)],
    seeds: &[(u64, QuestionScores)],
    cfg: &StatsConfig,
) -> Result<Comparison, ScoreError> {
    let entry = Entry {
        format,
        icl_shots: Some(shots),
        ..subject.entry(ComparisonKind::VsIcl, n)
    };
    let (refs, seeds) = pair_by_seed(icl, seeds);
    compare_with(&entry, &Reference::PerSeed(refs), &seeds, cfg)
}

/// Size N trained in `format` against size N trained in `reference_format` (`vs_format`): seeds
/// paired by id, `base_mean` the reference format's mean, `reference_n` = N. Bad input when they
/// share no seed.
#[allow(clippy::too_many_arguments)]
pub fn compare_formats(
    subject: &Subject<'_>,
    n: u64,
    format: &str,
    reference_format: &str,
    reference: &[(u64, QuestionScores)],
    seeds: &[(u64, QuestionScores)],
    cfg: &StatsConfig,
) -> Result<Comparison, ScoreError> {
    let entry = Entry {
        reference_n: n,
        format: Some(format),
        reference_format: Some(reference_format),
        ..subject.entry(ComparisonKind::VsFormat, n)
    };
    let (refs, seeds) = pair_by_seed(reference, seeds);
    compare_with(&entry, &Reference::PerSeed(refs), &seeds, cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(values: &[f64]) -> QuestionScores {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("q{i}"), vec![*v]))
            .collect()
    }

    fn subject() -> Subject<'static> {
        Subject {
            dataset: "d",
            model: "m",
            context: AnswerContext::Retrieved,
            metric: Metric::TokenF1,
            primary: true,
        }
    }

    /// The keys the alternatives add are absent from a `vs_base` entry, so the `comparison.json`
    /// of a study without them is written as before.
    #[test]
    fn plain_entries_carry_no_alternative_keys() {
        let base = scores(&[0.0, 1.0]);
        let seeds = vec![(0, scores(&[1.0, 1.0]))];
        let input = super::super::compare::ComparisonInput {
            dataset: "d",
            model: "m",
            n: 50,
            context: AnswerContext::Retrieved,
            metric: Metric::TokenF1,
            primary: true,
            base: &base,
            seeds: &seeds,
        };
        let c = super::super::compare::compare(&input, &StatsConfig::default()).unwrap();
        let json = serde_json::to_value(&c).unwrap();
        for key in ["format", "reference_format", "icl_shots"] {
            assert!(json.get(key).is_none(), "{key} in {json}");
        }
        let c =
            compare_icl_with_base(&subject(), 4, &base, &seeds, &StatsConfig::default()).unwrap();
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(
            (&json["kind"], &json["icl_shots"]),
            (&"vs_icl".into(), &4.into())
        );
    }

    /// `icl{K}` vs N = 0 takes every seed against the one base arm; N vs `icl{K}` and the formats
    /// pair seeds by id, leaving out a seed only one side ran.
    #[test]
    fn in_context_and_format_comparisons_pair_as_documented() {
        let cfg = StatsConfig::default();
        let base = scores(&[0.0, 0.0, 0.5, 0.5]);
        let icl = vec![
            (0, scores(&[1.0, 0.0, 0.5, 0.5])),
            (1, scores(&[1.0, 1.0, 0.5, 0.5])),
        ];
        let c = compare_icl_with_base(&subject(), 4, &base, &icl, &cfg).unwrap();
        assert_eq!(
            (c.kind, c.n, c.icl_shots, c.seeds.clone()),
            (ComparisonKind::VsIcl, 0, Some(4), vec![0, 1])
        );
        assert!((c.diff - 0.375).abs() < 1e-12, "{}", c.diff);
        assert!((c.base_mean - 0.25).abs() < 1e-12);

        // Seed 2 has no in-context twin: it is left out of the pairing.
        let tuned = vec![
            (0, scores(&[1.0, 1.0, 1.0, 0.5])),
            (2, scores(&[0.0, 0.0, 0.0, 0.0])),
        ];
        let c = compare_size_with_icl(&subject(), 50, Some("raft"), 4, &icl, &tuned, &cfg).unwrap();
        assert_eq!(
            (c.kind, c.n, c.format.as_deref(), c.seeds.clone()),
            (ComparisonKind::VsIcl, 50, Some("raft"), vec![0])
        );
        assert!((c.diff - 0.375).abs() < 1e-12, "{}", c.diff);
        assert!((c.base_mean - 0.5).abs() < 1e-12);

        let c = compare_formats(&subject(), 50, "raft", "qa", &icl, &tuned, &cfg).unwrap();
        assert_eq!(
            (
                c.kind,
                c.reference_n,
                c.format.as_deref(),
                c.reference_format.as_deref()
            ),
            (ComparisonKind::VsFormat, 50, Some("raft"), Some("qa"))
        );
        assert!((c.diff - 0.375).abs() < 1e-12, "{}", c.diff);

        let none: Vec<(u64, QuestionScores)> = vec![(7, scores(&[1.0, 1.0, 1.0, 1.0]))];
        let err = compare_formats(&subject(), 50, "raft", "qa", &none, &icl, &cfg).unwrap_err();
        assert!(
            err.to_string().contains("raft N = 50 vs qa N = 50")
                && err.to_string().contains("share no training seed"),
            "{err}"
        );
    }
}
