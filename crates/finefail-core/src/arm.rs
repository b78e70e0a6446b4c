//! What an arm is and what it answers from: the one definition of the arm grammar (DESIGN
//! "Contract details") that the runner names its steps with, answering checks, scoring reads back
//! and the statistics group by:
//!
//! ```text
//! {dataset}/{model}/n0[@none|@gold]                        the base model
//! {dataset}/{model}/n{N}/s{seed}[@none|@gold]               fine-tuned at N (one training format)
//! {dataset}/{model}/{format}/n{N}/s{seed}[@none|@gold]      fine-tuned at N in `format`
//!                                                           (only when `sweep.formats` has several)
//! {dataset}/{model}/icl{K}/s{seed}[@none|@gold]             the base model with K demonstrations
//! ```
//!
//! Tables (`answers.parquet`, `scores.parquet`) keep arm names as strings; every crate turns them
//! into an [`ArmId`] here, so a new kind of arm is one change in this file.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use crate::error::BadArm;

/// What an arm answers from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnswerContext {
    /// The top-k retrieved chunks (the study's setting).
    Retrieved,
    /// No context: closed book.
    None,
    /// The gold documents' chunks (retrieval taken out of the picture).
    Gold,
}

impl AnswerContext {
    /// Every context, the study's own first.
    pub const ALL: [AnswerContext; 3] = [Self::Retrieved, Self::None, Self::Gold];

    /// The name stored in `answers.parquet`, used in configs and as arm suffix (`@none`, `@gold`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Retrieved => "retrieved",
            Self::None => "none",
            Self::Gold => "gold",
        }
    }

    /// True for the study's own context; the others are controls with their own family.
    pub fn is_retrieved(self) -> bool {
        self == Self::Retrieved
    }
}

impl FromStr for AnswerContext {
    type Err = BadArm;

    /// Parses `retrieved`, `none` or `gold`.
    fn from_str(s: &str) -> Result<Self, BadArm> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                BadArm(format!(
                    "context `{s}` is unknown; use retrieved, none or gold"
                ))
            })
    }
}

impl fmt::Display for AnswerContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Contexts order by name (`gold` < `none` < `retrieved`), as the strings they replaced did, so
/// that tables and reports sorted by arm keep their order.
impl Ord for AnswerContext {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for AnswerContext {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// An arm: (dataset, model, N, seed) answering from a context. `n = 0` is the base model, the same
/// for every seed under greedy decoding, so its name carries no seed; a fine-tuned arm always has
/// one, and so does an in-context arm (`icl = Some(K)`, `n = 0`: the base model shown the first K
/// examples of that seed's training order). A fine-tuned arm of a study with several training
/// formats carries its `format`.
///
/// Ordered by dataset, model, N, then in-context K, format, seed and context: the base arm first,
/// then the in-context arms, then each size with its formats side by side.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ArmId {
    /// Dataset name (`[A-Za-z0-9._-]+`).
    pub dataset: String,
    /// Model name (`[A-Za-z0-9._-]+`).
    pub model: String,
    /// Training size (0 = the base model, with or without demonstrations).
    pub n: u64,
    /// Demonstrations shown in the prompt (`icl{K}`, K > 0); `None` for every other arm.
    pub icl: Option<u64>,
    /// Training format segment (`[a-z]+`, e.g. `qa`, `raft`) of a fine-tuned arm when the study
    /// compares several formats; `None` otherwise (names then read as with one format).
    pub format: Option<String>,
    /// Training seed (fine-tuned and in-context arms); `None` for the base arm.
    pub seed: Option<u64>,
    /// What the arm answers from.
    pub context: AnswerContext,
}

impl ArmId {
    /// The arm of (dataset, model, N, seed, context); the seed is dropped for the base arm (N = 0).
    pub fn new(
        dataset: impl Into<String>,
        model: impl Into<String>,
        n: u64,
        seed: Option<u64>,
        context: AnswerContext,
    ) -> Self {
        Self {
            dataset: dataset.into(),
            model: model.into(),
            n,
            icl: None,
            format: None,
            seed: seed.filter(|_| n > 0),
            context,
        }
    }

    /// The in-context arm `icl{K}/s{seed}` of (dataset, model, context): the base model with the
    /// first `k` (> 0) examples of `seed`'s training order as demonstrations.
    pub fn in_context(
        dataset: impl Into<String>,
        model: impl Into<String>,
        k: u64,
        seed: u64,
        context: AnswerContext,
    ) -> Self {
        Self {
            dataset: dataset.into(),
            model: model.into(),
            n: 0,
            icl: Some(k),
            format: None,
            seed: Some(seed),
            context,
        }
    }

    /// The same arm with its training-format segment (a fine-tuned arm only; the base and
    /// in-context arms carry none, so `format` is ignored for them).
    pub fn with_format(mut self, format: Option<impl Into<String>>) -> Self {
        self.format = format.map(Into::into).filter(|_| self.is_fine_tuned());
        self
    }

    /// The base arm (N = 0) of the same dataset, model and context: what this arm is compared with.
    pub fn base(&self) -> Self {
        Self::new(&self.dataset, &self.model, 0, None, self.context)
    }

    /// True for a fine-tuned arm (N > 0).
    pub fn is_fine_tuned(&self) -> bool {
        self.n > 0
    }

    /// True for the in-context arm (`icl{K}`): the base model with demonstrations, no adapter.
    pub fn is_in_context(&self) -> bool {
        self.icl.is_some()
    }

    /// True for the base arm (N = 0, no demonstrations): the one every other arm is compared with.
    pub fn is_base(&self) -> bool {
        self.n == 0 && self.icl.is_none()
    }

    /// The arm's treatment without dataset, model, seed and context, as tables label it: `n0`,
    /// `icl{K}`, `n{N}` or `{format}/n{N}`.
    pub fn treatment(&self) -> String {
        match (self.icl, &self.format) {
            (Some(k), _) => format!("icl{k}"),
            (None, Some(f)) => format!("{f}/n{}", self.n),
            (None, None) => format!("n{}", self.n),
        }
    }
}

fn valid_part(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// A training-format segment: lowercase letters only, so it can never read as `n{N}` or `icl{K}`.
fn valid_format(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase())
}

fn number(s: &str, prefix: &str) -> Option<u64> {
    let digits = s.strip_prefix(prefix)?;
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

impl FromStr for ArmId {
    type Err = BadArm;

    /// Accepts exactly
    /// `^[A-Za-z0-9._-]+/[A-Za-z0-9._-]+/(n[0-9]+(/s[0-9]+)?|[a-z]+/n[0-9]+/s[0-9]+|icl[0-9]+/s[0-9]+)(@none|@gold)?$`,
    /// with a seed whenever N > 0, N > 0 after a format segment and K > 0.
    fn from_str(name: &str) -> Result<Self, BadArm> {
        let bad = || {
            BadArm(format!(
                "bad arm name `{name}` (expected DATASET/MODEL/[FORMAT/]nN[/sSEED] or \
                 DATASET/MODEL/iclK/sSEED, then [@none|@gold])"
            ))
        };
        let (body, context) = match name.rsplit_once('@') {
            Some((b, "none")) => (b, AnswerContext::None),
            Some((b, "gold")) => (b, AnswerContext::Gold),
            Some(_) => return Err(bad()),
            None => (name, AnswerContext::Retrieved),
        };
        let parts: Vec<&str> = body.split('/').collect();
        if !(3..=5).contains(&parts.len()) || !valid_part(parts[0]) || !valid_part(parts[1]) {
            return Err(bad());
        }
        let seed_at = |i: usize| -> Result<Option<u64>, BadArm> {
            match parts.get(i) {
                Some(s) => Ok(Some(number(s, "s").ok_or_else(bad)?)),
                None => Ok(None),
            }
        };
        let (n, icl, format, seed) = if let Some(k) = number(parts[2], "icl") {
            if k == 0 || parts.len() != 4 {
                return Err(BadArm(format!(
                    "arm `{name}`: an in-context arm is DATASET/MODEL/iclK/sSEED with K > 0"
                )));
            }
            (0, Some(k), None, seed_at(3)?)
        } else if let Some(n) = number(parts[2], "n") {
            if parts.len() > 4 {
                return Err(bad());
            }
            (n, None, None, seed_at(3)?)
        } else if valid_format(parts[2]) && parts.len() == 5 {
            let n = number(parts[3], "n").ok_or_else(bad)?;
            if n == 0 {
                return Err(BadArm(format!(
                    "arm `{name}`: the base arm carries no training format (use DATASET/MODEL/n0)"
                )));
            }
            (n, None, Some(parts[2].to_owned()), seed_at(4)?)
        } else {
            return Err(bad());
        };
        if n > 0 && seed.is_none() {
            return Err(BadArm(format!(
                "arm `{name}` is fine-tuned (n{n}) but names no seed: add /sSEED"
            )));
        }
        Ok(ArmId {
            dataset: parts[0].to_owned(),
            model: parts[1].to_owned(),
            n,
            icl,
            format,
            seed,
            context,
        })
    }
}

impl fmt::Display for ArmId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.dataset, self.model, self.treatment())?;
        if let Some(s) = self.seed {
            write!(f, "/s{s}")?;
        }
        match self.context {
            AnswerContext::Retrieved => Ok(()),
            c => write!(f, "@{c}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_round_trip() {
        for name in [
            "pubmedqa/smollm2/n0",
            "nqa/m-1.5/n200/s2",
            "d/m/n50/s0@gold",
            "d/m/n0@none",
            "d/m/icl4/s0",
            "d/m/icl16/s2@gold",
            "d/m/raft/n50/s1",
            "d/m/qa/n100/s0@none",
        ] {
            let arm: ArmId = name.parse().unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(arm.to_string(), name);
        }
        let a: ArmId = "d/m/n50/s3@none".parse().unwrap();
        assert_eq!(
            (a.dataset.as_str(), a.model.as_str(), a.n, a.seed, a.context),
            ("d", "m", 50, Some(3), AnswerContext::None)
        );
        assert_eq!(a.base().to_string(), "d/m/n0@none");
    }

    #[test]
    fn malformed_names_are_rejected() {
        for name in [
            "d/m",
            "d/m/50",
            "d/m/n5/x1",
            "d/m/n5@web",
            "d m/x/n1/s1",
            "d/m/n/s1",
            "/m/n0",
            "d/m/n1/s1/x",
            "d/m/n5",
            "d/m/n5@gold",
            "d/m/icl4",
            "d/m/icl0/s0",
            "d/m/icl4/n5/s0",
            "d/m/qa/n0",
            "d/m/qa/n5",
            "d/m/Qa/n5/s0",
            "d/m/q1/n5/s0",
            "d/m/qa/icl4/s0",
            "d/m/n5/s0/qa",
        ] {
            assert!(name.parse::<ArmId>().is_err(), "{name}");
        }
    }

    #[test]
    fn the_base_arm_carries_no_seed() {
        let a = ArmId::new("d", "m", 0, Some(3), AnswerContext::Retrieved);
        assert_eq!(a.to_string(), "d/m/n0");
        let b = ArmId::new("d", "m", 50, Some(1), AnswerContext::Gold);
        assert_eq!(b.to_string(), "d/m/n50/s1@gold");
    }

    #[test]
    fn contexts_parse_print_and_order_by_name() {
        for c in AnswerContext::ALL {
            assert_eq!(c.as_str().parse::<AnswerContext>().unwrap(), c);
            assert_eq!(serde_json::to_string(&c).unwrap(), format!("\"{c}\""));
        }
        assert!("web".parse::<AnswerContext>().is_err());
        let mut v = AnswerContext::ALL.to_vec();
        v.sort();
        assert_eq!(
            v,
            [
                AnswerContext::Gold,
                AnswerContext::None,
                AnswerContext::Retrieved
            ]
        );
    }

    #[test]
    fn in_context_and_format_arms_are_not_base_arms() {
        let icl: ArmId = "d/m/icl4/s1@none".parse().unwrap();
        assert_eq!(
            (icl.n, icl.icl, icl.seed, icl.format.as_deref()),
            (0, Some(4), Some(1), None)
        );
        assert!(icl.is_in_context() && !icl.is_base() && !icl.is_fine_tuned());
        assert_eq!(icl.base().to_string(), "d/m/n0@none");
        assert_eq!(ArmId::in_context("d", "m", 4, 1, AnswerContext::None), icl);
        let raft =
            ArmId::new("d", "m", 50, Some(2), AnswerContext::Retrieved).with_format(Some("raft"));
        assert_eq!(raft.to_string(), "d/m/raft/n50/s2");
        assert!(raft.is_fine_tuned() && !raft.is_base());
        assert_eq!(raft.base().to_string(), "d/m/n0");
        // The base arm never carries a format.
        let base = ArmId::new("d", "m", 0, None, AnswerContext::Retrieved).with_format(Some("qa"));
        assert_eq!(base.to_string(), "d/m/n0");
        assert!(base.is_base());
    }

    #[test]
    fn arms_sort_base_then_in_context_then_sizes_with_formats_side_by_side() {
        let mut names: Vec<ArmId> = [
            "d/m/raft/n50/s0",
            "d/m/qa/n100/s0",
            "d/m/qa/n50/s1",
            "d/m/icl4/s0",
            "d/m/n0",
            "d/m/qa/n50/s0",
        ]
        .iter()
        .map(|n| n.parse().unwrap())
        .collect();
        names.sort();
        let sorted: Vec<String> = names.iter().map(ToString::to_string).collect();
        assert_eq!(
            sorted,
            [
                "d/m/n0",
                "d/m/icl4/s0",
                "d/m/qa/n50/s0",
                "d/m/qa/n50/s1",
                "d/m/raft/n50/s0",
                "d/m/qa/n100/s0"
            ]
        );
    }
}
