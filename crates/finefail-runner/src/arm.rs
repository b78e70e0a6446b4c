//! The arms a step is named after. Step ids are `{kind}/{subject}`; an answer or score step's
//! subject is an arm name (`…/n{N}/s{seed}`, `…/{format}/n{N}/s{seed}`, `…/icl{K}/s{seed}`) and a
//! finetune step's is `{dataset}/{model}[/{format}]/n{N}/s{seed}`, which has the same form: both
//! are parsed by [`finefail_core::ArmId`], the one arm grammar of the workspace.

use crate::error::{Result, RunnerError};
use finefail_core::ArmId;
use std::path::Path;

/// Parses the arm an answer, score or finetune step is named after; a bad name is a config error
/// naming the run.
pub fn step_arm(arm: &str, run_dir: &Path) -> Result<ArmId> {
    arm.parse()
        .map_err(|e: finefail_core::BadArm| RunnerError::config(run_dir, e.0))
}

/// The seed of a fine-tuned arm; a base arm has none, which is a config error for a step that
/// needs one.
pub fn arm_seed(arm: &ArmId, run_dir: &Path) -> Result<u64> {
    arm.seed
        .ok_or_else(|| RunnerError::config(run_dir, format!("step `{arm}` names no seed")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use finefail_core::AnswerContext;

    #[test]
    fn step_subjects_parse_as_arms() {
        let p = step_arm("pubmedqa/smollm2/n50/s1@gold", Path::new("r")).unwrap();
        assert_eq!(
            (p.dataset.as_str(), p.model.as_str(), p.n, p.seed, p.context),
            ("pubmedqa", "smollm2", 50, Some(1), AnswerContext::Gold)
        );
        let b = step_arm("d/m/n0", Path::new("r")).unwrap();
        assert_eq!(
            (b.n, b.seed, b.context),
            (0, None, AnswerContext::Retrieved)
        );
        assert!(arm_seed(&b, Path::new("r")).is_err());
        assert!(step_arm("d/m/x", Path::new("r")).is_err());
    }
}
