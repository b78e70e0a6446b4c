//! The step graph of an experiment: prepare → retrieve → finetune(dataset, model, format (when several), N,
//! seed) → answer(arm) → score(arm) → compare → report, plus the in-context arms' answer and score
//! steps (prepare + retrieve → answer(icl{K}/s{seed})). Each step is a unit with file inputs and
//! outputs, so a local executor or Slurm can run it.

use crate::config::Config;
use crate::kind::StepKind;
use crate::missing_path::does_not_exist;
use finefail_core::{AnswerContext, ArmId, RunLayout};
use finefail_train::PromptFormat;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// One step of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// Unique id, e.g. `finetune/pubmedqa/smollm2/n50/s0`.
    pub id: String,
    /// What the step does (its id starts with the kind's name).
    pub kind: StepKind,
    /// Ids of the steps whose outputs this one reads.
    pub deps: Vec<String>,
    /// Where its outputs go, relative to the run folder.
    pub output: PathBuf,
}

/// The whole plan, plus what only a run can check.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub name: String,
    pub run_dir: PathBuf,
    pub steps: Vec<Step>,
    pub warnings: Vec<String>,
}

impl Plan {
    /// The steps of kind `until` and of every kind before it, in plan order (all when `None`):
    /// what `--until` runs, locally or on Slurm.
    pub fn until(&self, until: Option<StepKind>) -> Vec<&Step> {
        let last = until.unwrap_or(StepKind::Report);
        self.steps.iter().filter(|s| s.kind <= last).collect()
    }
}

/// Plans `config`, with the run folder under `runs_root`. Warnings cover what only `run` checks:
/// missing inputs and model directories, and training sizes beyond an already prepared pool.
pub fn plan(config: &Config, runs_root: &Path) -> Plan {
    let name = config.name.clone().unwrap_or_else(|| "experiment".into());
    let run_dir = runs_root.join(&name);
    let mut steps = Vec::new();
    let mut warnings = Vec::new();
    let mut scores = Vec::new();
    for d in &config.datasets {
        if !d.input.exists() {
            warnings.push(format!(
                "dataset `{}`: {}",
                d.name,
                does_not_exist("input", &d.input)
            ));
        }
        let prepare = format!("prepare/{}", d.name);
        steps.push(Step {
            id: prepare.clone(),
            kind: StepKind::Prepare,
            deps: vec![],
            output: RunLayout::relative().data(&d.name),
        });
        let retrieve = format!("retrieve/{}", d.name);
        steps.push(Step {
            id: retrieve.clone(),
            kind: StepKind::Retrieve,
            deps: vec![prepare.clone()],
            output: RunLayout::relative().retrieval(&d.name),
        });
        let sizes = d.sizes.as_ref().unwrap_or(&config.sweep.sizes);
        let shots = config.eval.icl_shots;
        if let Some(pool) = prepared_pool(&RunLayout::new(&run_dir).data(&d.name)) {
            if let Some(&max) = sizes.iter().max().filter(|&&m| m > pool) {
                warnings.push(format!(
                    "dataset `{}`: size {max} is larger than its training pool ({pool})",
                    d.name
                ));
            }
            if shots > pool {
                warnings.push(format!(
                    "dataset `{}`: eval.icl_shots = {shots} is larger than its training pool \
                     ({pool}); lower eval.icl_shots",
                    d.name
                ));
            }
        }
        let formats = config.formats();
        let named = config.names_formats();
        for m in &config.models {
            // An API model is never fine-tuned: only its N = 0 arms are planned.
            let sizes: &[usize] = if m.is_api() { &[0] } else { sizes };
            for &n in sizes {
                let seeds: Vec<Option<u64>> = if n == 0 {
                    vec![None]
                } else {
                    config.sweep.seeds.iter().map(|&s| Some(s)).collect()
                };
                // The base arm has no format; each fine-tuned size has one arm per format.
                let arm_formats: Vec<Option<PromptFormat>> = if n == 0 {
                    vec![None]
                } else {
                    formats.iter().map(|&f| Some(f)).collect()
                };
                for format in arm_formats {
                    let segment = format.filter(|_| named).map(|f| f.as_str());
                    for &seed in &seeds {
                        let mut deps = vec![retrieve.clone()];
                        if seed.is_some() {
                            let tuned = ArmId::new(
                                &d.name,
                                &m.name,
                                n as u64,
                                seed,
                                AnswerContext::Retrieved,
                            )
                            .with_format(segment);
                            let ft = format!("finetune/{tuned}");
                            let format = format.unwrap_or(config.train.format);
                            steps.push(Step {
                                id: ft.clone(),
                                kind: StepKind::Finetune,
                                deps: fine_tune_deps(format, &prepare, &retrieve),
                                output: RunLayout::relative()
                                    .fine_tune_of(&tuned)
                                    .expect("a fine-tuned arm has an adapter folder"),
                            });
                            deps.push(ft);
                        }
                        for ctx in contexts(config) {
                            let arm = ArmId::new(&d.name, &m.name, n as u64, seed, ctx)
                                .with_format(segment);
                            push_arm(&mut steps, &mut scores, &arm, deps.clone());
                        }
                    }
                }
            }
            // The in-context arm: the base model (local models only: an API model's prompt is
            // not ours to budget) with the first K training examples of each seed.
            if shots > 0 && !m.is_api() {
                for &seed in &config.sweep.seeds {
                    for ctx in contexts(config) {
                        let arm = ArmId::in_context(&d.name, &m.name, shots as u64, seed, ctx);
                        let deps = vec![prepare.clone(), retrieve.clone()];
                        push_arm(&mut steps, &mut scores, &arm, deps);
                    }
                }
            }
        }
    }
    for m in &config.models {
        let Some(local) = m.local_model() else {
            let key_env = m.api_model().and_then(|a| a.key_env.as_deref());
            if let Some(var) = key_env.filter(|v| !key_is_set(v)) {
                warnings.push(format!(
                    "model `{}`: environment variable {var} (its API key) is not set",
                    m.name
                ));
            }
            continue;
        };
        if !local.path.exists() {
            warnings.push(format!(
                "model `{}`: {}",
                m.name,
                does_not_exist("model directory", &local.path)
            ));
        } else if !local.path.join("config.json").is_file() {
            warnings.push(format!(
                "model `{}`: {} has no config.json",
                m.name,
                local.path.display()
            ));
        }
    }
    steps.push(Step {
        id: "compare".into(),
        kind: StepKind::Compare,
        deps: scores,
        output: RunLayout::relative().comparison(),
    });
    steps.push(Step {
        id: "report".into(),
        kind: StepKind::Report,
        deps: vec!["compare".into()],
        output: RunLayout::relative().report(),
    });
    Plan {
        name,
        run_dir,
        steps,
        warnings,
    }
}

/// What decides a fine-tune's examples: the prepared data, and for `rag` and `raft` the retrieval
/// (`raft` reads both directly: chunks and hard negatives).
fn fine_tune_deps(format: PromptFormat, prepare: &str, retrieve: &str) -> Vec<String> {
    match format {
        PromptFormat::Qa => vec![prepare.to_owned()],
        PromptFormat::Rag => vec![retrieve.to_owned()],
        PromptFormat::Raft => vec![prepare.to_owned(), retrieve.to_owned()],
    }
}

/// The answer and score steps of `arm`, the answer reading `deps`.
fn push_arm(steps: &mut Vec<Step>, scores: &mut Vec<String>, arm: &ArmId, deps: Vec<String>) {
    let answer = format!("answer/{arm}");
    steps.push(Step {
        id: answer.clone(),
        kind: StepKind::Answer,
        deps,
        output: RunLayout::relative().answers(arm),
    });
    let score = format!("score/{arm}");
    steps.push(Step {
        id: score.clone(),
        kind: StepKind::Score,
        deps: vec![answer],
        output: RunLayout::relative().scores(arm),
    });
    scores.push(score);
}

/// The contexts evaluated: `retrieved` always first, then the opt-in ones.
fn contexts(config: &Config) -> Vec<AnswerContext> {
    let mut out = vec![AnswerContext::Retrieved];
    for &c in &config.eval.contexts {
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

/// Whether the environment variable `var` holds a (non-blank) key; its value is never read
/// further.
fn key_is_set(var: &str) -> bool {
    std::env::var(var).is_ok_and(|k| !k.trim().is_empty())
}

fn prepared_pool(dir: &Path) -> Option<usize> {
    finefail_data::load_stats(dir)
        .ok()
        .map(|s| s.train_available)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DatasetConfig, ModelEntry};

    fn config() -> Config {
        Config {
            name: Some("t".into()),
            datasets: vec![DatasetConfig {
                name: "d".into(),
                format: finefail_data::Format::Jsonl,
                input: "x".into(),
                ..Default::default()
            }],
            models: vec![ModelEntry::local("m", "p")],
            ..Default::default()
        }
    }

    #[test]
    fn graph_has_one_base_arm_and_an_arm_per_size_and_seed() {
        let mut c = config();
        c.sweep.sizes = vec![0, 50, 100];
        c.sweep.seeds = vec![0, 1];
        c.eval.contexts = vec![AnswerContext::Retrieved, AnswerContext::None];
        let p = plan(&c, Path::new("runs"));
        let count = |k: StepKind| p.steps.iter().filter(|s| s.kind == k).count();
        assert_eq!(count(StepKind::Prepare), 1);
        assert_eq!(count(StepKind::Finetune), 4);
        assert_eq!(count(StepKind::Answer), 10); // (1 base + 4 fine-tuned) × 2 contexts
        assert!(p.steps.iter().any(|s| s.id == "answer/d/m/n0@none"));
        assert!(p.steps.iter().any(|s| s.id == "answer/d/m/n50/s1"));
        let ft = p
            .steps
            .iter()
            .find(|s| s.id == "answer/d/m/n100/s0")
            .unwrap();
        assert!(ft.deps.contains(&"finetune/d/m/n100/s0".to_string()));
        // Every dependency is a step of the plan that comes earlier.
        for (i, s) in p.steps.iter().enumerate() {
            for d in &s.deps {
                assert!(
                    p.steps[..i].iter().any(|e| &e.id == d),
                    "{} depends on {d}, not planned before it",
                    s.id
                );
            }
        }
        assert_eq!(p.warnings.len(), 2, "{:?}", p.warnings);
    }

    #[test]
    fn api_models_get_only_base_arms_and_a_key_warning() {
        let mut c = config();
        c.sweep.sizes = vec![0, 50];
        c.sweep.seeds = vec![0, 1];
        c.eval.contexts = vec![AnswerContext::Retrieved, AnswerContext::Gold];
        let mut gpt = ModelEntry::api("gpt", "http://127.0.0.1:9", "gpt-4");
        if let crate::config::ModelSource::Api(a) = &mut gpt.source {
            a.key_env = Some("FINEFAIL_PLAN_TEST_KEY_NEVER_SET".into());
        }
        c.models.push(gpt);
        let p = plan(&c, Path::new("runs"));
        let ids: Vec<&str> = p
            .steps
            .iter()
            .map(|s| s.id.as_str())
            .filter(|id| id.contains("/gpt/"))
            .collect();
        assert_eq!(
            ids,
            [
                "answer/d/gpt/n0",
                "score/d/gpt/n0",
                "answer/d/gpt/n0@gold",
                "score/d/gpt/n0@gold"
            ]
        );
        let w: Vec<&String> = p.warnings.iter().filter(|w| w.contains("gpt")).collect();
        assert_eq!(w.len(), 1, "{:?}", p.warnings);
        assert!(
            w[0].starts_with("model `gpt`") && w[0].contains("FINEFAIL_PLAN_TEST_KEY_NEVER_SET")
        );
        let compare = p.steps.iter().find(|s| s.id == "compare").unwrap();
        assert!(compare.deps.contains(&"score/d/gpt/n0".to_string()));
    }

    /// A fine-tune waits for what decides its examples: the prepared data (`qa`), the retrieval
    /// (`rag`), or both (`raft`: chunks for gold passages and distractors, retrieval for hard
    /// negatives).
    #[test]
    fn fine_tunes_depend_on_what_their_format_reads() {
        for (format, deps) in [
            (PromptFormat::Qa, vec!["prepare/d"]),
            (PromptFormat::Rag, vec!["retrieve/d"]),
            (PromptFormat::Raft, vec!["prepare/d", "retrieve/d"]),
        ] {
            let mut c = config();
            c.sweep.sizes = vec![0, 10];
            c.sweep.seeds = vec![0];
            c.train.format = format;
            let p = plan(&c, Path::new("runs"));
            let ft = p
                .steps
                .iter()
                .find(|s| s.kind == StepKind::Finetune)
                .unwrap();
            assert_eq!(ft.deps, deps, "{format}");
        }
    }

    /// `eval.icl_shots` adds one in-context arm per seed and context for local models only,
    /// reading the prepared data and the retrieval, never a fine-tune.
    #[test]
    fn icl_shots_add_in_context_arms_per_seed_and_context() {
        let mut c = config();
        c.sweep.sizes = vec![0, 10];
        c.sweep.seeds = vec![0, 1];
        c.eval.contexts = vec![AnswerContext::Retrieved, AnswerContext::None];
        c.models
            .push(ModelEntry::api("gpt", "http://127.0.0.1:9", "gpt-4"));
        let before = plan(&c, Path::new("runs"));
        c.eval.icl_shots = 4;
        let p = plan(&c, Path::new("runs"));
        let icl: Vec<&Step> = p.steps.iter().filter(|s| s.id.contains("/icl")).collect();
        let ids: Vec<&str> = icl.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "answer/d/m/icl4/s0",
                "score/d/m/icl4/s0",
                "answer/d/m/icl4/s0@none",
                "score/d/m/icl4/s0@none",
                "answer/d/m/icl4/s1",
                "score/d/m/icl4/s1",
                "answer/d/m/icl4/s1@none",
                "score/d/m/icl4/s1@none",
            ]
        );
        assert_eq!(icl[0].deps, ["prepare/d", "retrieve/d"]);
        assert_eq!(icl[1].deps, ["answer/d/m/icl4/s0"]);
        let compare = p.steps.iter().find(|s| s.id == "compare").unwrap();
        assert!(compare.deps.contains(&"score/d/m/icl4/s1@none".to_string()));
        // Nothing else changes: every other step is planned as before.
        let others: Vec<&Step> = p
            .steps
            .iter()
            .filter(|s| !s.id.contains("/icl") && s.id != "compare")
            .collect();
        let old: Vec<&Step> = before.steps.iter().filter(|s| s.id != "compare").collect();
        assert_eq!(others, old);
    }

    /// With several formats every fine-tuned arm and fine-tune carries its format, each
    /// fine-tune waits for what its own format reads, and the base arm stays `n0`; with one
    /// format (`sweep.formats = [train.format]`) the plan is exactly the plain one.
    #[test]
    fn several_formats_name_their_arms_and_fine_tunes() {
        let mut c = config();
        c.sweep.sizes = vec![0, 10];
        c.sweep.seeds = vec![0];
        let plain = plan(&c, Path::new("runs"));
        c.sweep.formats = Some(vec![PromptFormat::Qa]);
        assert_eq!(plan(&c, Path::new("runs")).steps, plain.steps);
        c.sweep.formats = Some(vec![PromptFormat::Qa, PromptFormat::Raft]);
        let p = plan(&c, Path::new("runs"));
        let ids: Vec<&str> = p.steps.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "prepare/d",
                "retrieve/d",
                "answer/d/m/n0",
                "score/d/m/n0",
                "finetune/d/m/qa/n10/s0",
                "answer/d/m/qa/n10/s0",
                "score/d/m/qa/n10/s0",
                "finetune/d/m/raft/n10/s0",
                "answer/d/m/raft/n10/s0",
                "score/d/m/raft/n10/s0",
                "compare",
                "report"
            ]
        );
        let step = |id: &str| p.steps.iter().find(|s| s.id == id).unwrap();
        assert_eq!(step("finetune/d/m/qa/n10/s0").deps, ["prepare/d"]);
        assert_eq!(
            step("finetune/d/m/raft/n10/s0").deps,
            ["prepare/d", "retrieve/d"]
        );
        assert_eq!(
            step("finetune/d/m/raft/n10/s0").output,
            Path::new("adapters/d/m/raft/n10/s0")
        );
        assert!(step("answer/d/m/raft/n10/s0")
            .deps
            .contains(&"finetune/d/m/raft/n10/s0".to_string()));
    }
}
