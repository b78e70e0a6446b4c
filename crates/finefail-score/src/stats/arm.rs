//! Arm names, `{dataset}/{model}/n{N}[/s{seed}][@none|@gold]`, parsed into their parts.

use std::fmt;
use std::str::FromStr;

use crate::ScoreError;

/// The parts of an arm name; statistics group arms by (dataset, model, context) and pair N > 0
/// with N = 0.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ArmName {
    /// Dataset name.
    pub dataset: String,
    /// Model name.
    pub model: String,
    /// Training size (0 = the base model).
    pub n: u64,
    /// Training seed; `None` for the base arm (and taken as 0 for a fine-tuned arm without one).
    pub seed: Option<u64>,
    /// `retrieved` (no suffix), `none` or `gold`.
    pub context: String,
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

impl FromStr for ArmName {
    type Err = ScoreError;

    /// Accepts exactly `^[A-Za-z0-9._-]+/[A-Za-z0-9._-]+/n[0-9]+(/s[0-9]+)?(@none|@gold)?$`.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let bad = || {
            ScoreError::BadInput(format!(
                "bad arm name `{name}` (expected DATASET/MODEL/nN[/sSEED][@none|@gold])"
            ))
        };
        let (body, context) = match name.rsplit_once('@') {
            Some((b, "none")) => (b, "none"),
            Some((b, "gold")) => (b, "gold"),
            Some(_) => return Err(bad()),
            None => (name, "retrieved"),
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
        Ok(ArmName {
            dataset: parts[0].to_owned(),
            model: parts[1].to_owned(),
            n,
            seed,
            context: context.to_owned(),
        })
    }
}

impl fmt::Display for ArmName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/n{}", self.dataset, self.model, self.n)?;
        if let Some(s) = self.seed {
            write!(f, "/s{s}")?;
        }
        match self.context.as_str() {
            "retrieved" => Ok(()),
            c => write!(f, "@{c}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_round_trips() {
        for name in [
            "pubmedqa/smollm2/n0",
            "nqa/m-1.5/n200/s2",
            "d/m/n50/s0@gold",
            "d/m/n0@none",
        ] {
            let arm: ArmName = name.parse().unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(arm.to_string(), name);
        }
        let a: ArmName = "d/m/n50/s3@none".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((a.n, a.seed, a.context.as_str()), (50, Some(3), "none"));
    }

    #[test]
    fn rejects_malformed_names() {
        for name in [
            "d/m",
            "d/m/50",
            "d/m/n5/x1",
            "d/m/n5@web",
            "d m/x/n1",
            "d/m/n/s1",
            "/m/n0",
            "d/m/n1/s1/x",
        ] {
            let e = name.parse::<ArmName>().err();
            assert!(e.is_some_and(|e| e.is_bad_input()), "{name}");
        }
    }
}
