//! The local implementation of every step kind: each turns its slice of the config and the outputs
//! of earlier steps into its own output, by calling the library crates. One file per kind under
//! `steps/`; here the dispatch and what each kind's input hash covers.

mod answer;
mod api_answer;
mod compare;
mod finetune;
mod prepare;
mod report;
mod retrieve;
mod score;

use crate::config::Config;
use crate::engine::StepWork;
use crate::error::Result;
use crate::kind::StepKind;
use crate::plan::Step;
use crate::progress::{ProgressSink, StepProgress};
use finefail_core::StopFlag;
use serde_json::{json, Value};
use std::path::Path;

/// Runs steps in this process (the local executor, and each Slurm job through `finefail step`).
pub struct LocalSteps<'a> {
    /// The experiment: every step reads its slice of it.
    pub config: &'a Config,
    /// [`Config::hash`], written into `comparison.json`.
    pub config_hash: String,
    /// The stop flag the long steps poll (fine-tunes between optimizer steps, answering between
    /// batches) and the engine checks between steps: the process-wide one a Ctrl-C sets, unless
    /// a caller (a test) gives its own.
    pub stop: StopFlag,
    /// `--keep-stale`: reuse a step made by other code when its inputs are unchanged
    /// ([`StepWork::keep_stale`]).
    pub keep_stale: bool,
}

impl<'a> LocalSteps<'a> {
    /// The steps of `config`.
    pub fn new(config: &'a Config) -> Self {
        Self {
            config,
            config_hash: config.hash(),
            stop: StopFlag::process(),
            keep_stale: false,
        }
    }
}

/// A step id without its kind: `prepare/pubmedqa` → `pubmedqa` (a dataset, an arm, or a
/// finetune's `{dataset}/{model}/n{N}/s{seed}`); empty for `compare` and `report`.
fn subject(step: &Step) -> &str {
    step.id.split_once('/').map(|(_, r)| r).unwrap_or("")
}

/// The `[[models]]` entry a finetune or answer step uses, as a one-element list: what its input
/// hash covers. Only its own model, so adding a model (an API answerer to a finished study) reruns
/// nothing; the list form keeps the hash of a one-model config what it was when the slice held
/// every model.
fn own_model<'c>(c: &'c Config, step: &Step) -> Result<[&'c crate::config::ModelEntry; 1]> {
    let arm = crate::arm::step_arm(subject(step), Path::new("config"))?;
    Ok([c.model(&arm.model)?])
}

impl StepWork for LocalSteps<'_> {
    fn stop(&self) -> StopFlag {
        self.stop.clone()
    }

    fn keep_stale(&self) -> bool {
        self.keep_stale
    }

    fn config_slice(&self, step: &Step) -> Result<Value> {
        let c = self.config;
        Ok(match step.kind {
            // Not the seeds: a seed's training order is computed on demand from the pool, so a
            // prepared dataset — and every step reading it — is the same whatever seeds are swept.
            StepKind::Prepare => {
                json!({ "dataset": c.dataset(subject(step))?, "chunking": c.chunking })
            }
            StepKind::Retrieve => json!({ "retrieval": c.retrieval }),
            // The seed is in the step id (`…/s{seed}`), which the input hash covers; the sweep's
            // seed list is not, so adding or removing another seed leaves this step cached.
            // With several formats the step's own format (from its id) is its `train.format`;
            // with one, `train` is the config's as it always was.
            StepKind::Finetune => {
                let train = finetune::train_settings(c, subject(step))?;
                json!({ "lora": c.lora, "train": train, "models": own_model(c, step)? })
            }
            StepKind::Answer => {
                let mut slice = json!({ "generation": c.generation, "models": own_model(c, step)?, "device": c.device });
                // An in-context arm's demonstrations: K is in the id; whether they carry context
                // (and how many chunks) is not.
                if let Some(icl) = answer::icl_slice(c, subject(step))? {
                    slice["icl"] = icl;
                }
                slice
            }
            StepKind::Score => {
                json!({ "judge": c.judge, "metrics": c.eval.metrics, "judge_prompt": finefail_score::JUDGE_PROMPT_VERSION })
            }
            // `comparison.json` records the whole config's hash, so the step follows it (a
            // renamed study reruns this seconds-long step instead of keeping a stale hash).
            StepKind::Compare => json!({ "stats": c.stats, "config_hash": self.config_hash }),
            StepKind::Report => json!({}),
        })
    }

    fn run(
        &self,
        step: &Step,
        run_dir: &Path,
        scratch: &Path,
        progress: ProgressSink,
    ) -> Result<()> {
        let c = self.config;
        match step.kind {
            StepKind::Prepare => prepare::run(c, subject(step), scratch, progress),
            StepKind::Retrieve => retrieve::run(c, subject(step), run_dir, scratch, progress),
            StepKind::Finetune => {
                finetune::run(c, subject(step), run_dir, scratch, progress, &self.stop)
            }
            StepKind::Answer => {
                answer::run(c, subject(step), run_dir, scratch, progress, &self.stop)
            }
            StepKind::Score => score::run(c, subject(step), run_dir, scratch, progress),
            StepKind::Compare => {
                progress(StepProgress::stage("comparing arms (bootstrap)"));
                compare::run(c, &self.config_hash, step, run_dir, scratch)
            }
            StepKind::Report => {
                progress(StepProgress::stage("writing the report"));
                report::run(c, run_dir, scratch)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DatasetConfig, ModelEntry};

    /// A config of dataset `d` and local model `m`, every other key at its default.
    fn one_dataset_one_model() -> Config {
        Config {
            datasets: vec![DatasetConfig {
                name: "d".into(),
                ..Default::default()
            }],
            models: vec![ModelEntry::local("m", "p")],
            ..Default::default()
        }
    }

    /// A step of `kind` named `id`, without deps (a slice depends on the id and kind only).
    fn step(id: &str, kind: StepKind) -> Step {
        Step {
            id: id.into(),
            kind,
            deps: vec![],
            output: "x".into(),
        }
    }

    /// No step's slice holds the sweep's seed list: a seed's steps are told apart by their ids
    /// (`…/s{seed}`), so adding or removing a seed changes no other step's input hash.
    #[test]
    fn the_seed_list_is_in_no_step_slice() {
        let mut c = Config {
            datasets: vec![DatasetConfig {
                name: "d".into(),
                ..Default::default()
            }],
            models: vec![ModelEntry::local("m", "p")],
            ..Default::default()
        };
        let steps = [
            ("prepare/d", StepKind::Prepare),
            ("retrieve/d", StepKind::Retrieve),
            ("finetune/d/m/n50/s0", StepKind::Finetune),
            ("answer/d/m/n50/s0", StepKind::Answer),
            ("score/d/m/n50/s0", StepKind::Score),
            // Not compare: it follows the whole config's hash (below), and a new seed's scores
            // rerun it anyway.
            ("report", StepKind::Report),
        ]
        .map(|(id, kind)| Step {
            id: id.into(),
            kind,
            deps: vec![],
            output: "x".into(),
        });
        let slices = |c: &Config| {
            let s = LocalSteps::new(c);
            steps
                .iter()
                .map(|step| s.config_slice(step).unwrap())
                .collect::<Vec<_>>()
        };
        c.sweep.seeds = vec![0];
        let one = slices(&c);
        for seeds in [vec![0, 1], vec![0, 1, 2, 3], vec![5]] {
            c.sweep.seeds = seeds;
            assert_eq!(slices(&c), one, "seeds {:?}", c.sweep.seeds);
        }
    }

    /// `comparison.json` records the config's hash: the compare step follows it, so a study
    /// renamed in place (`name` only) gets its hash rewritten, not kept stale.
    #[test]
    fn the_compare_step_follows_the_config_hash() {
        let mut c = Config::default();
        let compare = Step {
            id: "compare".into(),
            kind: StepKind::Compare,
            deps: vec![],
            output: "x".into(),
        };
        let slice = |c: &Config| LocalSteps::new(c).config_slice(&compare).unwrap();
        let before = slice(&c);
        assert_eq!(before["config_hash"], c.hash());
        c.name = Some("renamed".into());
        assert_ne!(slice(&c), before);
    }

    #[test]
    fn adding_a_model_changes_no_other_models_step_hash() {
        let mut c = one_dataset_one_model();
        let answer = step("answer/d/m/n0", StepKind::Answer);
        let finetune = step("finetune/d/m/n50/s0", StepKind::Finetune);
        let before = |c: &Config| {
            let s = LocalSteps::new(c);
            (
                s.config_slice(&answer).unwrap(),
                s.config_slice(&finetune).unwrap(),
            )
        };
        let one = before(&c);
        // The slice of a one-model config is what it was when it listed every model.
        assert_eq!(one.0["models"], serde_json::to_value(&c.models).unwrap());
        c.models.push(ModelEntry::api("gpt", "http://h", "gpt-4"));
        assert_eq!(before(&c), one);
        let api = LocalSteps::new(&c)
            .config_slice(&step("answer/d/gpt/n0@none", StepKind::Answer))
            .unwrap();
        assert_eq!(api["models"][0]["kind"], "api");
    }

    /// A format-named fine-tune hashes its own format as `train.format`; an in-context answer
    /// step hashes what decides its demonstrations; a plain fine-tune and answer keep the slices
    /// they always had.
    #[test]
    fn format_and_in_context_steps_hash_what_decides_them() {
        let mut c = one_dataset_one_model();
        let plain = step("finetune/d/m/n50/s0", StepKind::Finetune);
        let raft = step("finetune/d/m/raft/n50/s0", StepKind::Finetune);
        let answer = step("answer/d/m/n0", StepKind::Answer);
        let icl = step("answer/d/m/icl4/s0", StepKind::Answer);
        let s = LocalSteps::new(&c);
        assert_eq!(
            s.config_slice(&plain).unwrap()["train"],
            serde_json::to_value(&c.train).unwrap()
        );
        assert_eq!(s.config_slice(&raft).unwrap()["train"]["format"], "raft");
        // One format listed: the unnamed fine-tune trains in it.
        let mut one = c.clone();
        one.sweep.formats = Some(vec![finefail_train::PromptFormat::Raft]);
        let s1 = LocalSteps::new(&one);
        assert_eq!(s1.config_slice(&plain).unwrap()["train"]["format"], "raft");
        assert!(s.config_slice(&answer).unwrap().get("icl").is_none());
        let qa = s.config_slice(&icl).unwrap()["icl"].clone();
        assert_eq!(qa["context"], false);
        c.train.format = finefail_train::PromptFormat::Rag;
        let s = LocalSteps::new(&c);
        assert_ne!(s.config_slice(&icl).unwrap()["icl"], qa);
    }
}
