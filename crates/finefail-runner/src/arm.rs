//! Arm names, `{dataset}/{model}/n{N}[/s{seed}][@context]`, and where an arm's adapter lives: the
//! names the plan gives its steps and the steps read back.

use crate::error::{Result, RunnerError};
use finefail_rag::answering::AnswerContext;
use std::path::{Path, PathBuf};

/// The parts of an arm name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArmParts {
    pub dataset: String,
    pub model: String,
    pub n: usize,
    pub seed: Option<u64>,
    /// `retrieved` (no suffix), `none` or `gold`.
    pub context: String,
}

/// An arm's name: `{dataset}/{model}/n{N}` for the base, `/s{seed}` for fine-tuned, `@ctx` suffix.
pub fn arm_name(dataset: &str, model: &str, n: usize, seed: Option<u64>, context: &str) -> String {
    let mut s = format!("{dataset}/{model}/n{n}");
    if let (Some(seed), true) = (seed, n > 0) {
        s.push_str(&format!("/s{seed}"));
    }
    if context != "retrieved" {
        s.push('@');
        s.push_str(context);
    }
    s
}

/// Parses the arm an answer or score step is named after; a bad name is a config error naming the
/// run.
pub fn step_arm(arm: &str, run_dir: &Path) -> Result<ArmParts> {
    parse_arm(arm).ok_or_else(|| RunnerError::config(run_dir, format!("bad arm name `{arm}`")))
}

impl ArmParts {
    /// The context the arm answers from.
    pub fn answer_context(&self) -> Result<AnswerContext> {
        AnswerContext::parse(&self.context).map_err(|m| RunnerError::config("config", m))
    }
}

/// The run's prepared data of `dataset` (`data/{dataset}`).
pub fn data_dir(run_dir: &Path, dataset: &str) -> PathBuf {
    run_dir.join("data").join(dataset)
}

/// The run's retrieval of `dataset` (`retrieval/{dataset}`).
pub fn retrieval_dir(run_dir: &Path, dataset: &str) -> PathBuf {
    run_dir.join("retrieval").join(dataset)
}

/// Parses an arm name (also the tail of a finetune step's id, which has the same form).
pub fn parse_arm(arm: &str) -> Option<ArmParts> {
    let (body, context) = match arm.split_once('@') {
        Some((b, c)) => (b, c.to_string()),
        None => (arm, "retrieved".to_string()),
    };
    let parts: Vec<&str> = body.split('/').collect();
    let n = parts.get(2)?.strip_prefix('n')?.parse().ok()?;
    let seed = match parts.get(3) {
        Some(s) => Some(s.strip_prefix('s')?.parse().ok()?),
        None => None,
    };
    Some(ArmParts {
        dataset: parts.first()?.to_string(),
        model: parts.get(1)?.to_string(),
        n,
        seed,
        context,
    })
}

/// Where the adapter of (dataset, model, N, seed) lives, relative to the run folder.
pub fn adapter_path(dataset: &str, model: &str, n: usize, seed: u64) -> PathBuf {
    PathBuf::from("adapters")
        .join(dataset)
        .join(model)
        .join(format!("n{n}"))
        .join(format!("s{seed}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arm_names_parse() {
        let p = parse_arm("pubmedqa/smollm2/n50/s1@gold").unwrap();
        assert_eq!(
            (
                p.dataset.as_str(),
                p.model.as_str(),
                p.n,
                p.seed,
                p.context.as_str()
            ),
            ("pubmedqa", "smollm2", 50, Some(1), "gold")
        );
        let b = parse_arm("d/m/n0").unwrap();
        assert_eq!((b.n, b.seed, b.context.as_str()), (0, None, "retrieved"));
        assert!(parse_arm("d/m/x").is_none());
    }

    #[test]
    fn arm_names_follow_the_contract() {
        assert_eq!(
            arm_name("pubmedqa", "smollm2", 0, Some(3), "retrieved"),
            "pubmedqa/smollm2/n0"
        );
        assert_eq!(
            arm_name("pubmedqa", "smollm2", 50, Some(1), "gold"),
            "pubmedqa/smollm2/n50/s1@gold"
        );
        assert_eq!(
            adapter_path("d", "m", 50, 1),
            PathBuf::from("adapters/d/m/n50/s1")
        );
    }
}
