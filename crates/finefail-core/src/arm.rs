//! What an arm is and what it answers from: the one definition of the arm grammar
//! `{dataset}/{model}/n{N}[/s{seed}][@none|@gold]` (DESIGN "Contract details") that the runner
//! names its steps with, answering checks, scoring reads back and the statistics group by.
//!
//! Tables (`answers.parquet`, `scores.parquet`) keep arm names as strings; every crate turns them
//! into an [`ArmId`] here, so a new kind of arm (an in-context arm, a training format) is one change
//! in this file.

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
/// one. Ordered by dataset, model, N, seed, context.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ArmId {
    /// Dataset name (`[A-Za-z0-9._-]+`).
    pub dataset: String,
    /// Model name (`[A-Za-z0-9._-]+`).
    pub model: String,
    /// Training size (0 = the base model).
    pub n: u64,
    /// Training seed; `None` for the base arm.
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
            seed: seed.filter(|_| n > 0),
            context,
        }
    }

    /// The base arm (N = 0) of the same dataset, model and context: what this arm is compared with.
    pub fn base(&self) -> Self {
        Self::new(&self.dataset, &self.model, 0, None, self.context)
    }

    /// True for a fine-tuned arm (N > 0).
    pub fn is_fine_tuned(&self) -> bool {
        self.n > 0
    }
}

fn valid_part(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn number(s: &str, prefix: char) -> Option<u64> {
    let digits = s.strip_prefix(prefix)?;
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

impl FromStr for ArmId {
    type Err = BadArm;

    /// Accepts exactly `^[A-Za-z0-9._-]+/[A-Za-z0-9._-]+/n[0-9]+(/s[0-9]+)?(@none|@gold)?$`, with a
    /// seed whenever N > 0.
    fn from_str(name: &str) -> Result<Self, BadArm> {
        let bad = || {
            BadArm(format!(
                "bad arm name `{name}` (expected DATASET/MODEL/nN[/sSEED][@none|@gold])"
            ))
        };
        let (body, context) = match name.rsplit_once('@') {
            Some((b, "none")) => (b, AnswerContext::None),
            Some((b, "gold")) => (b, AnswerContext::Gold),
            Some(_) => return Err(bad()),
            None => (name, AnswerContext::Retrieved),
        };
        let parts: Vec<&str> = body.split('/').collect();
        if !(3..=4).contains(&parts.len()) || !valid_part(parts[0]) || !valid_part(parts[1]) {
            return Err(bad());
        }
        let n = number(parts[2], 'n').ok_or_else(bad)?;
        let seed = match parts.get(3) {
            Some(s) => Some(number(s, 's').ok_or_else(bad)?),
            None => None,
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
            seed,
            context,
        })
    }
}

impl fmt::Display for ArmId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/n{}", self.dataset, self.model, self.n)?;
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
}
