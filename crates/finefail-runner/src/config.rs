//! The experiment config: one TOML file describes the whole study (datasets × models × sizes ×
//! seeds, and every setting of every step). Every key has a default (docs/config.md lists them);
//! unknown keys are errors that name the closest valid key.

use crate::error::{Result, RunnerError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// A whole experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The run folder name under `experiments/runs/` (default: the config file's stem).
    pub name: Option<String>,
    /// `cpu`, `cuda:N`, `tch-cpu` or `tch-cuda:N`.
    pub device: String,
    /// Memory one step may use on the device, GB (the memory plan compares its estimates with
    /// it; default: this machine's RAM on a CPU device, unknown on a GPU).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_memory_gb: Option<f64>,
    pub datasets: Vec<DatasetConfig>,
    pub models: Vec<ModelEntry>,
    pub sweep: Sweep,
    pub chunking: Chunking,
    pub retrieval: Retrieval,
    pub lora: Lora,
    pub train: Train,
    pub generation: Generation,
    pub eval: Eval,
    /// The LLM judge; absent = deterministic metrics only.
    pub judge: Option<Judge>,
    pub stats: Stats,
    pub slurm: Slurm,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            name: None,
            device: "cpu".into(),
            device_memory_gb: None,
            datasets: Vec::new(),
            models: Vec::new(),
            sweep: Sweep::default(),
            chunking: Chunking::default(),
            retrieval: Retrieval::default(),
            lora: Lora::default(),
            train: Train::default(),
            generation: Generation::default(),
            eval: Eval::default(),
            judge: None,
            stats: Stats::default(),
            slurm: Slurm::default(),
        }
    }
}

impl Config {
    /// The `[[datasets]]` entry named `name`: steps address datasets by name.
    pub fn dataset(&self, name: &str) -> Result<&DatasetConfig> {
        self.datasets
            .iter()
            .find(|d| d.name == name)
            .ok_or_else(|| RunnerError::config("config", format!("no dataset `{name}`")))
    }

    /// The `[[models]]` entry named `name`: steps address models by name.
    pub fn model(&self, name: &str) -> Result<&ModelEntry> {
        self.models
            .iter()
            .find(|m| m.name == name)
            .ok_or_else(|| RunnerError::config("config", format!("no model `{name}`")))
    }

    /// sha256 of the config as JSON: the `config_hash` of `manifest.json` and `comparison.json`,
    /// tying every result to the config that made it.
    pub fn hash(&self) -> String {
        let text = serde_json::to_string(self).unwrap_or_default();
        hex::encode(Sha256::digest(text.as_bytes()))
    }
}

/// One dataset of the study (`[[datasets]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatasetConfig {
    pub name: String,
    /// A `data prepare --format` name.
    pub format: String,
    pub input: PathBuf,
    pub test_size: usize,
    pub val_size: Option<usize>,
    /// `question` or `document`.
    pub split_unit: String,
    pub split_seed: u64,
    /// Training sizes for this dataset (overrides `sweep.sizes`, e.g. a smaller pool).
    pub sizes: Option<Vec<usize>>,
    /// Column mapping for jsonl/csv/parquet inputs (`question=q,answer=a`).
    pub map: Option<String>,
}

impl Default for DatasetConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            format: String::new(),
            input: PathBuf::new(),
            test_size: 200,
            val_size: None,
            split_unit: "question".into(),
            split_seed: 0,
            sizes: None,
            map: None,
        }
    }
}

/// One base model (`[[models]]`): a local Hugging Face checkpoint directory, or (`kind = "api"`)
/// an OpenAI-compatible endpoint that answers but is never fine-tuned (the paper's GPT-4
/// benchmark).
///
/// The API keys are `Option`s skipped when absent, so a local model's entry serializes exactly as
/// before they existed: adding them changed no step's input hash.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelEntry {
    pub name: String,
    pub path: PathBuf,
    /// A Jinja chat template overriding the checkpoint's own.
    pub chat_template: Option<String>,
    /// `local` (default) or `api`.
    #[serde(skip_serializing_if = "ModelKind::is_local")]
    pub kind: ModelKind,
    /// API models: the endpoint's base URL (with or without `/v1`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// API models: the model name the endpoint knows (`gpt-4`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// API models: the environment variable holding the key; absent = no key sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_env: Option<String>,
    /// API models: requests in flight (default 4).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
    /// API models: whole-request timeout in seconds (default 60).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<u64>,
    /// API models: retries after the first attempt (default 3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
    /// API models: a reasoning-model endpoint (`max_completion_tokens`, no sampling parameters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<bool>,
    /// API models with `reasoning`: extra completion tokens for hidden reasoning (default 4096).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u32>,
    /// Storage dtype of the frozen base: `auto` (default), `f32`, `bf16` or `f16`. Left out of
    /// the serialized config while unset, so configs that predate it keep their hashes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dtype: Option<String>,
    /// `none` (default), `int8` or `nf4`: the frozen projections stored quantized.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantize: Option<String>,
    /// `auto` (default: the base's 16-bit dtype on a GPU, f32 on a CPU), `f32`, `bf16` or `f16`:
    /// the dtype the frozen projections multiply in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compute_dtype: Option<String>,
    /// A `config.json` describing the model, for `--plan`'s memory estimate before the
    /// checkpoint is downloaded (the checkpoint's own wins once it is there).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_config: Option<PathBuf>,
}

impl ModelEntry {
    /// True for an API answering model: never fine-tuned, answered through its endpoint.
    pub fn is_api(&self) -> bool {
        self.kind == ModelKind::Api
    }

    /// The storage options as given (`auto`/`none` when unset), not yet resolved for a device.
    pub fn precision(&self) -> std::result::Result<finefail_model::precision::Precision, String> {
        finefail_model::precision::Precision::parse(
            self.dtype.as_deref().unwrap_or("auto"),
            self.quantize.as_deref().unwrap_or("none"),
        )
        .and_then(|p| p.with_compute(self.compute_dtype.as_deref().unwrap_or("auto")))
        .map_err(|e| format!("model `{}`: {e}", self.name))
    }
}

/// What a `[[models]]` entry is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// A local checkpoint directory: fine-tuned and answered in process.
    #[default]
    Local,
    /// An OpenAI-compatible endpoint: answers only (N = 0 arms).
    Api,
}

impl ModelKind {
    /// For `skip_serializing_if`: the default kind is not written.
    pub fn is_local(&self) -> bool {
        *self == ModelKind::Local
    }
}

/// Training sizes (0 = the base model) and seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Sweep {
    pub sizes: Vec<usize>,
    pub seeds: Vec<u64>,
}

impl Default for Sweep {
    fn default() -> Self {
        Self {
            sizes: vec![0, 50, 100],
            seeds: vec![0, 1],
        }
    }
}

/// Corpus chunking (see `finefail data prepare`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Chunking {
    pub unit: String,
    pub size: usize,
    pub overlap: usize,
}

impl Default for Chunking {
    fn default() -> Self {
        Self {
            unit: "chars".into(),
            size: 1000,
            overlap: 150,
        }
    }
}

/// Retrieval, computed once per dataset and shared by every arm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Retrieval {
    /// `bm25`, `dense` or `hybrid`.
    pub retriever: String,
    pub top_k: usize,
    /// The embedder checkpoint (dense and hybrid retrieval, token chunking).
    pub embedder: PathBuf,
}

impl Default for Retrieval {
    fn default() -> Self {
        Self {
            retriever: "hybrid".into(),
            top_k: 3,
            embedder: "checkpoints/all-minilm-l6-v2".into(),
        }
    }
}

/// LoRA adapter settings (`[lora]`): the fine-tuning crate's own struct, so the keys and defaults
/// exist once.
pub type Lora = finefail_train::LoraSettings;

/// The fine-tuning recipe's settings (`[train]`): the fine-tuning crate's own struct.
pub type Train = finefail_train::TrainConfig;

/// Answer generation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Generation {
    pub max_new_tokens: usize,
    /// 0 = greedy.
    pub temperature: f64,
    pub top_p: f64,
    pub batch_size: usize,
    /// Extra stop strings (the chat template's end-of-turn is always one).
    pub stop: Vec<String>,
}

impl Default for Generation {
    fn default() -> Self {
        Self {
            max_new_tokens: 64,
            temperature: 0.0,
            top_p: 1.0,
            batch_size: 8,
            stop: Vec::new(),
        }
    }
}

/// What is evaluated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Eval {
    /// `retrieved` (always), plus opt-in `none` (closed book) and `gold` (gold documents).
    pub contexts: Vec<String>,
    /// Metrics to compute (default: every deterministic metric, plus the judge's when configured).
    pub metrics: Vec<String>,
}

impl Default for Eval {
    fn default() -> Self {
        Self {
            contexts: vec!["retrieved".into()],
            metrics: Vec::new(),
        }
    }
}

/// An OpenAI-compatible judge endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Judge {
    pub url: String,
    pub model: String,
    /// Name of the environment variable holding the API key (the key itself is never in a config).
    pub key_env: String,
    pub repeats: usize,
    pub concurrency: usize,
    pub timeout_s: u64,
    pub max_retries: usize,
    /// A reasoning-model endpoint: `max_completion_tokens` instead of `max_tokens`, no
    /// `temperature` (skipped when false, so older configs keep their input hashes).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub reasoning: bool,
    /// With `reasoning`: extra completion tokens for hidden reasoning.
    #[serde(skip_serializing_if = "is_default_reasoning_tokens")]
    pub reasoning_tokens: u32,
}

fn is_default_reasoning_tokens(n: &u32) -> bool {
    *n == finefail_data::chat_api::DEFAULT_REASONING_TOKENS
}

impl Default for Judge {
    fn default() -> Self {
        Self {
            url: String::new(),
            model: String::new(),
            key_env: "OPENAI_API_KEY".into(),
            repeats: 1,
            concurrency: 4,
            timeout_s: 60,
            max_retries: 3,
            reasoning: false,
            reasoning_tokens: finefail_data::chat_api::DEFAULT_REASONING_TOKENS,
        }
    }
}

/// Paired statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Stats {
    pub bootstrap: usize,
    pub alpha: f64,
    pub seed: u64,
    /// Primary metrics (default: accuracy + completeness with a judge, else token_f1 +
    /// answer_recall, label_accuracy for label datasets).
    pub primary: Vec<String>,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            bootstrap: 10_000,
            alpha: 0.05,
            seed: 0,
            primary: Vec::new(),
        }
    }
}

/// Slurm executor settings (used with `--executor slurm`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Slurm {
    pub partition: Option<String>,
    pub time: String,
    /// GPU request for the GPU steps (finetune, answer), e.g. `gpu:1`.
    pub gres: Option<String>,
    pub cpus_per_task: usize,
    pub mem: Option<String>,
    pub sbatch_args: Vec<String>,
}

impl Default for Slurm {
    fn default() -> Self {
        Self {
            partition: None,
            time: "04:00:00".into(),
            gres: None,
            cpus_per_task: 2,
            mem: None,
            sbatch_args: Vec::new(),
        }
    }
}

/// Every valid key, by table (`""` = top level): the source of "did you mean" suggestions and of
/// the docs/config.md table. A test checks it against the structs above.
pub const SCHEMA: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "name",
            "device",
            "device_memory_gb",
            "datasets",
            "models",
            "sweep",
            "chunking",
            "retrieval",
            "lora",
            "train",
            "generation",
            "eval",
            "judge",
            "stats",
            "slurm",
        ],
    ),
    (
        "datasets",
        &[
            "name",
            "format",
            "input",
            "test_size",
            "val_size",
            "split_unit",
            "split_seed",
            "sizes",
            "map",
        ],
    ),
    (
        "models",
        &[
            "name",
            "path",
            "chat_template",
            "kind",
            "url",
            "model",
            "key_env",
            "concurrency",
            "timeout_s",
            "max_retries",
            "reasoning",
            "reasoning_tokens",
            "dtype",
            "quantize",
            "compute_dtype",
            "model_config",
        ],
    ),
    ("sweep", &["sizes", "seeds"]),
    ("chunking", &["unit", "size", "overlap"]),
    ("retrieval", &["retriever", "top_k", "embedder"]),
    ("lora", &["r", "alpha", "dropout", "targets"]),
    (
        "train",
        &[
            "format",
            "epochs",
            "max_steps",
            "lr",
            "betas",
            "eps",
            "weight_decay",
            "max_grad_norm",
            "schedule",
            "warmup_ratio",
            "batch_size",
            "micro_batch_size",
            "max_seq_len",
            "checkpoint_every",
            "eval_every",
            "early_stop_patience",
            "keep",
            "gradient_checkpointing",
        ],
    ),
    (
        "generation",
        &[
            "max_new_tokens",
            "temperature",
            "top_p",
            "batch_size",
            "stop",
        ],
    ),
    ("eval", &["contexts", "metrics"]),
    (
        "judge",
        &[
            "url",
            "model",
            "key_env",
            "repeats",
            "concurrency",
            "timeout_s",
            "max_retries",
            "reasoning",
            "reasoning_tokens",
        ],
    ),
    ("stats", &["bootstrap", "alpha", "seed", "primary"]),
    (
        "slurm",
        &[
            "partition",
            "time",
            "gres",
            "cpus_per_task",
            "mem",
            "sbatch_args",
        ],
    ),
];

/// The valid keys of `table`.
pub fn keys_of(table: &str) -> &'static [&'static str] {
    SCHEMA
        .iter()
        .find(|(t, _)| *t == table)
        .map(|(_, k)| *k)
        .unwrap_or(&[])
}
