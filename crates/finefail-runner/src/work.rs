//! The local implementation of every step kind: each turns its slice of the config and the outputs
//! of earlier steps into its own output, by calling the library crates.

use crate::config::Config;
use crate::engine::StepWork;
use crate::error::{Result, RunnerError};
use crate::plan::Step;
use finefail_data::{
    ChunkConfig, ChunkUnit, ColumnMap, Format, PrepareOptions, SplitConfig, SplitUnit,
};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::Path;

/// Runs steps in this process.
pub struct LocalWork<'a> {
    pub config: &'a Config,
    /// sha256 of the config (the manifest's and comparison.json's `config_hash`).
    pub config_hash: String,
}

impl<'a> LocalWork<'a> {
    /// Work for `config`.
    pub fn new(config: &'a Config) -> Self {
        let text = serde_json::to_string(config).unwrap_or_default();
        Self {
            config,
            config_hash: hex::encode(Sha256::digest(text.as_bytes())),
        }
    }

    fn dataset(&self, name: &str) -> Result<&crate::config::DatasetConfig> {
        self.config
            .datasets
            .iter()
            .find(|d| d.name == name)
            .ok_or_else(|| RunnerError::config("config", format!("no dataset `{name}`")))
    }
}

/// The parts of an arm name `{dataset}/{model}/n{N}[/s{seed}][@context]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArmParts {
    pub dataset: String,
    pub model: String,
    pub n: usize,
    pub seed: Option<u64>,
    pub context: String,
}

/// Parses an arm name.
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

impl StepWork for LocalWork<'_> {
    fn config_slice(&self, step: &Step) -> Result<Value> {
        let c = self.config;
        let rest = step.id.split_once('/').map(|(_, r)| r).unwrap_or("");
        Ok(match step.kind {
            "prepare" => {
                json!({ "dataset": self.dataset(rest)?, "chunking": c.chunking, "seeds": c.sweep.seeds })
            }
            "retrieve" => json!({ "retrieval": c.retrieval }),
            "finetune" => json!({ "lora": c.lora, "train": c.train, "models": c.models }),
            "answer" => {
                json!({ "generation": c.generation, "models": c.models, "device": c.device })
            }
            "score" => {
                json!({ "judge": c.judge, "metrics": c.eval.metrics, "judge_prompt": finefail_score::JUDGE_PROMPT_VERSION })
            }
            "compare" => json!({ "stats": c.stats }),
            _ => json!({}),
        })
    }

    fn run(&self, step: &Step, run_dir: &Path, work: &Path) -> Result<()> {
        let rest = step.id.split_once('/').map(|(_, r)| r).unwrap_or("");
        match step.kind {
            "prepare" => self.prepare(rest, work),
            "retrieve" => self.retrieve(rest, run_dir, work),
            "answer" => self.answer(rest, run_dir, work),
            "finetune" => self.finetune(rest, run_dir, work),
            "report" => self.report(step, run_dir, work),
            "score" => self.score(rest, run_dir, work),
            "compare" => self.compare(step, run_dir, work),
            kind => Err(RunnerError::config(
                run_dir,
                format!("step kind `{kind}` cannot run yet: its crate is still being built (issues 4–6); run with --until prepare"),
            )),
        }
    }
}

impl LocalWork<'_> {
    fn prepare(&self, name: &str, work: &Path) -> Result<()> {
        let d = self.dataset(name)?;
        let bad = |m: String| RunnerError::config("config", format!("dataset `{name}`: {m}"));
        let opts = PrepareOptions {
            format: Format::parse(&d.format).map_err(bad)?,
            input: d.input.clone(),
            out: work.to_path_buf(),
            name: Some(d.name.clone()),
            map: ColumnMap::parse(d.map.as_deref().unwrap_or("")).map_err(bad)?,
            split: SplitConfig {
                unit: SplitUnit::parse(&d.split_unit).map_err(bad)?,
                test_size: d.test_size,
                val_size: d.val_size,
                split_seed: d.split_seed,
                seeds: self.config.sweep.seeds.clone(),
            },
            chunking: ChunkConfig {
                unit: ChunkUnit::parse(&self.config.chunking.unit).map_err(bad)?,
                size: self.config.chunking.size,
                overlap: self.config.chunking.overlap,
            },
            tokenizer: Some(self.config.retrieval.embedder.clone()),
        };
        finefail_data::prepare(&opts, &mut |_| {}).map_err(data_err)?;
        Ok(())
    }

    fn retrieve(&self, dataset: &str, run_dir: &Path, work: &Path) -> Result<()> {
        let r = &self.config.retrieval;
        let options = finefail_rag::retrieve::RetrieveOptions {
            retriever: r.retriever.parse().map_err(rag_err)?,
            top_k: r.top_k,
            embedder_dir: r.embedder.clone(),
            cache_dir: None,
            device: finefail_model::device::parse_device(&self.config.device).map_err(model_err)?,
        };
        finefail_rag::retrieve::run_retrieve(
            &run_dir.join("data").join(dataset),
            work,
            &options,
            &mut |_, _| {},
        )
        .map_err(rag_err)?;
        Ok(())
    }

    /// `finetune/{dataset}/{model}/n{N}/s{seed}`: trains in the step's work folder with `resume`, so a
    /// killed run continues from its last checkpoint.
    fn finetune(&self, rest: &str, run_dir: &Path, work: &Path) -> Result<()> {
        let parts = parse_arm(rest)
            .ok_or_else(|| RunnerError::config(run_dir, format!("bad finetune step `{rest}`")))?;
        let seed = parts.seed.ok_or_else(|| {
            RunnerError::config(run_dir, format!("finetune step `{rest}` has no seed"))
        })?;
        let entry = self.model(&parts.model)?;
        let settings: finefail_train::FinetuneSettings =
            serde_json::from_value(json!({ "train": self.config.train, "lora": self.config.lora }))
                .map_err(|e| RunnerError::config("config", format!("train/lora settings: {e}")))?;
        let data = run_dir.join("data").join(&parts.dataset);
        let mut req = finefail_train::FinetuneRequest::new(&data, parts.n, seed, &entry.path, work);
        req.settings = settings;
        req.rag_top_k = self.config.retrieval.top_k;
        req.device = self.config.device.clone();
        req.resume = work.join("checkpoints").is_dir();
        if self.config.train.format == "rag" {
            req.retrieval_dir = Some(run_dir.join("retrieval").join(&parts.dataset));
        }
        finefail_train::finetune(&req, &mut |_| {}).map_err(|e| RunnerError::Step {
            message: e.to_string(),
            bad_input: e.is_bad_input(),
        })?;
        Ok(())
    }

    /// The report folder (the step's output) plus `per_question.{parquet,csv}` at the run root.
    fn report(&self, step: &Step, run_dir: &Path, work: &Path) -> Result<()> {
        let report_err = |e: finefail_report::ReportError| RunnerError::Step {
            message: e.to_string(),
            bad_input: e.is_bad_input(),
        };
        let io = |p: &Path| {
            let p = p.to_path_buf();
            move |e| RunnerError::Io { path: p, source: e }
        };
        let name = self.config.name.clone().unwrap_or_default();
        let datasets: Vec<&str> = self
            .config
            .datasets
            .iter()
            .map(|d| d.name.as_str())
            .collect();
        // The arms are those the compare step read.
        let plan = crate::plan::plan(self.config, run_dir.parent().unwrap_or(Path::new(".")));
        let arms: Vec<String> = plan
            .steps
            .iter()
            .filter(|s| s.kind == "score")
            .map(|s| s.id.trim_start_matches("score/").to_string())
            .collect();
        let _ = step;
        let arm_refs: Vec<&str> = arms.iter().map(String::as_str).collect();
        let input = finefail_report::ReportInput::load(&name, run_dir, &datasets, &arm_refs)
            .map_err(report_err)?;
        let scratch = work.join(".scratch");
        let _ = std::fs::remove_dir_all(&scratch);
        finefail_report::write_report(&input, &scratch).map_err(report_err)?;
        for entry in std::fs::read_dir(scratch.join("report")).map_err(io(&scratch))? {
            let entry = entry.map_err(io(&scratch))?;
            let to = work.join(entry.file_name());
            let _ = std::fs::remove_dir_all(&to);
            std::fs::rename(entry.path(), &to).map_err(io(&to))?;
        }
        for f in ["per_question.parquet", "per_question.csv"] {
            std::fs::rename(scratch.join(f), run_dir.join(f)).map_err(io(&run_dir.join(f)))?;
        }
        std::fs::remove_dir_all(&scratch).map_err(io(&scratch))
    }

    fn model(&self, name: &str) -> Result<&crate::config::ModelEntry> {
        self.config
            .models
            .iter()
            .find(|m| m.name == name)
            .ok_or_else(|| RunnerError::config("config", format!("no model `{name}`")))
    }

    fn answer(&self, arm: &str, run_dir: &Path, work: &Path) -> Result<()> {
        use finefail_rag::answering::{answer_test_set, AnswerContext, AnswerOptions};
        let parts = parse_arm(arm)
            .ok_or_else(|| RunnerError::config(run_dir, format!("bad arm name `{arm}`")))?;
        let entry = self
            .config
            .models
            .iter()
            .find(|m| m.name == parts.model)
            .ok_or_else(|| RunnerError::config("config", format!("no model `{}`", parts.model)))?;
        let adapter = match parts.seed.filter(|_| parts.n > 0) {
            Some(seed) => Some(
                adapter_dir(run_dir, &parts.dataset, &parts.model, parts.n, seed).join("adapter"),
            ),
            None => None,
        };
        let model = finefail_model::generate::ChatModel::load(
            &entry.path,
            adapter.as_deref(),
            &finefail_model::device::parse_device(&self.config.device).map_err(model_err)?,
        )
        .map_err(model_err)?;
        let g = &self.config.generation;
        let opts = AnswerOptions {
            arm: arm.to_string(),
            context: AnswerContext::parse(&parts.context)
                .map_err(|m| RunnerError::config("config", m))?,
            top_k: self.config.retrieval.top_k,
            max_new_tokens: g.max_new_tokens,
            sampling: finefail_model::sampling::SamplingConfig {
                temperature: g.temperature as f32,
                top_p: g.top_p as f32,
                seed: parts.seed.unwrap_or(0),
            },
            batch_size: g.batch_size,
        };
        let retrieval = run_dir.join("retrieval").join(&parts.dataset);
        answer_test_set(
            &model,
            &run_dir.join("data").join(&parts.dataset),
            Some(&retrieval),
            &opts,
            work,
            &mut |_, _| {},
        )
        .map_err(rag_err)?;
        Ok(())
    }

    fn score(&self, arm: &str, run_dir: &Path, work: &Path) -> Result<()> {
        let parts = parse_arm(arm)
            .ok_or_else(|| RunnerError::config(run_dir, format!("bad arm name `{arm}`")))?;
        let data = run_dir.join("data").join(&parts.dataset);
        let retrieval = run_dir.join("retrieval").join(&parts.dataset);
        let answers_path = run_dir.join("answers").join(arm).join("answers.parquet");
        let questions = finefail_score::read_questions(&data).map_err(score_err)?;
        let answers = finefail_score::read_answers(&answers_path).map_err(score_err)?;
        finefail_score::check_question_ids(&answers, &questions, &answers_path)
            .map_err(score_err)?;
        let contexts = if retrieval.join("retrieval.parquet").is_file() {
            finefail_score::retrieved_contexts(&retrieval, &data).map_err(score_err)?
        } else {
            Default::default()
        };
        let plain: Vec<_> = answers.iter().map(|a| a.answer.clone()).collect();
        let empty = Default::default();
        let ctx = if parts.context == "retrieved" {
            &contexts
        } else {
            &empty
        };
        let mut rows = finefail_score::score_answers(&questions, &plain, ctx).map_err(score_err)?;
        // Deterministic scores are written first: a judge failure keeps them (the step still fails).
        finefail_score::write_scores(&work.join("scores.parquet"), &rows).map_err(score_err)?;
        if let Some(j) = &self.config.judge {
            rows.extend(self.judge(j, &questions, &plain).map_err(score_err)?);
            finefail_score::write_scores(&work.join("scores.parquet"), &rows).map_err(score_err)?;
        }
        Ok(())
    }

    /// The LLM judge over one arm's answers: preflight, then `repeats` judgments per answer,
    /// cached on disk by content hash.
    fn judge(
        &self,
        j: &crate::config::Judge,
        questions: &std::collections::HashMap<String, finefail_score::Question>,
        answers: &[finefail_score::Answer],
    ) -> std::result::Result<Vec<finefail_score::ScoreRow>, finefail_score::ScoreError> {
        use finefail_score::Judge as _;
        let mut cfg = finefail_score::JudgeConfig::new(j.url.clone(), j.model.clone());
        cfg.key_env = Some(j.key_env.clone());
        cfg.repeats = j.repeats as u32;
        cfg.concurrency = j.concurrency;
        cfg.timeout = std::time::Duration::from_secs(j.timeout_s);
        cfg.max_retries = j.max_retries as u32;
        let judge = finefail_score::HttpJudge::new(&cfg)?;
        judge.preflight()?;
        let cache = finefail_score::JudgeCache::open(finefail_score::JudgeCache::default_dir())?;
        let requests: Vec<finefail_score::JudgeRequest> = answers
            .iter()
            .filter_map(|a| {
                let q = questions.get(&a.question_id)?;
                Some(finefail_score::JudgeRequest {
                    arm: a.arm.clone(),
                    question_id: a.question_id.clone(),
                    question: q.question.clone(),
                    references: q.answers.clone(),
                    answer: a.answer.clone(),
                })
            })
            .collect();
        finefail_score::judge_answers(
            &judge,
            &requests,
            cfg.repeats,
            cfg.concurrency,
            Some(&cache),
            &|_, _| {},
        )
    }

    fn compare(&self, step: &Step, run_dir: &Path, work: &Path) -> Result<()> {
        let mut rows = Vec::new();
        for dep in &step.deps {
            let arm = dep.trim_start_matches("score/");
            rows.extend(
                finefail_score::read_scores(
                    &run_dir.join("scores").join(arm).join("scores.parquet"),
                )
                .map_err(score_err)?,
            );
        }
        let s = &self.config.stats;
        let primary = if s.primary.is_empty() {
            None
        } else {
            Some(s.primary.iter().filter_map(|m| m.parse().ok()).collect())
        };
        let cfg = finefail_score::StatsConfig {
            bootstrap: s.bootstrap,
            alpha: s.alpha,
            seed: s.seed,
            primary,
        };
        let comparisons = finefail_score::compare_run(&rows, &cfg).map_err(score_err)?;
        let file = finefail_score::ComparisonFile {
            config_hash: self.config_hash.clone(),
            alpha: cfg.alpha,
            comparisons,
        };
        finefail_score::write_comparison(&work.join("comparison.json"), &file).map_err(score_err)
    }
}

/// Where the adapter of (dataset, model, N, seed) lives in a run folder.
pub fn adapter_dir(
    run_dir: &Path,
    dataset: &str,
    model: &str,
    n: usize,
    seed: u64,
) -> std::path::PathBuf {
    run_dir
        .join("adapters")
        .join(dataset)
        .join(model)
        .join(format!("n{n}"))
        .join(format!("s{seed}"))
}

fn rag_err(e: finefail_rag::RagError) -> RunnerError {
    RunnerError::Step {
        message: e.to_string(),
        bad_input: e.is_bad_input(),
    }
}

fn model_err(e: finefail_model::ModelError) -> RunnerError {
    RunnerError::Step {
        message: e.to_string(),
        bad_input: e.is_bad_input(),
    }
}

fn data_err(e: finefail_data::DataError) -> RunnerError {
    RunnerError::Step {
        message: e.to_string(),
        bad_input: e.is_bad_input(),
    }
}

fn score_err(e: finefail_score::ScoreError) -> RunnerError {
    RunnerError::Step {
        message: e.to_string(),
        bad_input: e.is_bad_input(),
    }
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
}
