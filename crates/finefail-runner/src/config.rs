//! The experiment config: one TOML file describes the whole study (datasets × models × sizes ×
//! seeds, and every setting of every step). These structs are the one definition of the keys:
//! their serde fields are the valid keys ([`schema`], walked from the structs, feeds the unknown-key
//! check, `--set` and the docs/config.md test), their `Default`s are the defaults, and enum-like
//! settings are enums that serialize to the words a config file uses, so a config's hash is what
//! it was when they were strings.

mod words;

use crate::error::{Result, RunnerError};
use finefail_core::AnswerContext;
use finefail_data::chat_api::{ChatApiConfig, DEFAULT_MAX_RETRIES, DEFAULT_REASONING_TOKENS};
use finefail_data::{ChunkConfig, ChunkUnit, Format, SplitUnit};
use finefail_model::precision::{Precision, Quantize, WeightDtype};
use finefail_rag::retrieve::{Retriever, DEFAULT_EMBEDDER_DIR, DEFAULT_TOP_K};
use finefail_score::{HolmFamily, Metric};
use finefail_train::config::schema::Schema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;
use words::Word;

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
    /// Experiment tracking (`[tracking]`): where finished steps are logged. Never serialized, so
    /// it is in no config hash: turning tracking on or off reruns nothing.
    #[serde(skip_serializing)]
    pub tracking: Tracking,
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
            tracking: Tracking::default(),
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

/// One dataset of the study (`[[datasets]]`). `format` has no default: an entry must say it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetConfig {
    #[serde(default)]
    pub name: String,
    /// A `data prepare --format` name (the data crate's [`Format`] words).
    #[serde(with = "words::word")]
    pub format: Format,
    #[serde(default)]
    pub input: PathBuf,
    #[serde(default = "default_test_size")]
    pub test_size: usize,
    #[serde(default)]
    pub val_size: Option<usize>,
    /// `question` or `document`.
    #[serde(default = "default_split_unit")]
    pub split_unit: SplitUnit,
    #[serde(default)]
    pub split_seed: u64,
    /// Training sizes for this dataset (overrides `sweep.sizes`, e.g. a smaller pool).
    #[serde(default)]
    pub sizes: Option<Vec<usize>>,
    /// Column mapping for jsonl/csv/parquet inputs (`question=q,answer=a`).
    #[serde(default)]
    pub map: Option<String>,
}

fn default_test_size() -> usize {
    200
}

fn default_split_unit() -> SplitUnit {
    SplitUnit::Question
}

impl Default for DatasetConfig {
    /// The defaults of every key; `format` (which a config must give) is `jsonl` here, for code
    /// that builds configs.
    fn default() -> Self {
        Self {
            name: String::new(),
            format: Format::Jsonl,
            input: PathBuf::new(),
            test_size: default_test_size(),
            val_size: None,
            split_unit: default_split_unit(),
            split_seed: 0,
            sizes: None,
            map: None,
        }
    }
}

/// One base model (`[[models]]`): a local Hugging Face checkpoint directory, or (`kind = "api"`)
/// an OpenAI-compatible endpoint that answers but is never fine-tuned (the paper's GPT-4
/// benchmark). Each kind has only its own keys; a config file writes them flat, as [`ModelToml`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ModelToml", into = "ModelToml")]
pub struct ModelEntry {
    /// The arm names' model part.
    pub name: String,
    /// What answers: a checkpoint or an endpoint.
    pub source: ModelSource,
}

/// What a `[[models]]` entry is (`kind`).
#[derive(Debug, Clone, PartialEq)]
pub enum ModelSource {
    /// `local` (default): a checkpoint directory, fine-tuned and answered in process.
    Local(LocalModel),
    /// `api`: an OpenAI-compatible endpoint, answers only (N = 0 arms).
    Api(ApiModel),
}

impl Default for ModelSource {
    fn default() -> Self {
        Self::Local(LocalModel::default())
    }
}

/// A local checkpoint (`kind = "local"`, the default).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LocalModel {
    /// The Hugging Face checkpoint directory.
    pub path: PathBuf,
    /// A Jinja chat template overriding the checkpoint's own.
    pub chat_template: Option<String>,
    /// Storage dtype of the frozen base (unset = `auto`).
    pub dtype: Option<WeightDtype>,
    /// The frozen projections stored quantized (unset = `none`).
    pub quantize: Option<Quantize>,
    /// The dtype the frozen projections multiply in (unset = `auto`: the base's 16-bit dtype on
    /// a GPU, f32 on a CPU).
    pub compute_dtype: Option<WeightDtype>,
    /// A `config.json` describing the model, for `--plan`'s memory estimate before the
    /// checkpoint is downloaded (the checkpoint's own wins once it is there).
    pub model_config: Option<PathBuf>,
}

impl LocalModel {
    /// The storage options as given (`auto`/`none` when unset), not yet resolved for a device.
    pub fn precision(&self) -> Precision {
        Precision {
            dtype: self.dtype.unwrap_or_default(),
            quantize: self.quantize.unwrap_or_default(),
            compute: self.compute_dtype.unwrap_or_default(),
        }
    }
}

/// An OpenAI-compatible endpoint (`kind = "api"`). Unset options are `None`, and stay out of the
/// serialized entry, so adding one changes no existing step's input hash; their defaults are the
/// shared chat client's ([`ApiModel::chat_api_config`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApiModel {
    /// The endpoint's base URL (with or without `/v1`).
    pub url: String,
    /// The model name the endpoint knows (`gpt-4`).
    pub model: String,
    /// The environment variable holding the key; `None` = no key sent.
    pub key_env: Option<String>,
    /// Requests in flight (default [`DEFAULT_CONCURRENCY`]).
    pub concurrency: Option<usize>,
    /// Whole-request timeout in seconds (default: the chat client's, 60).
    pub timeout_s: Option<u64>,
    /// Retries after the first attempt (default [`DEFAULT_MAX_RETRIES`]).
    pub max_retries: Option<u32>,
    /// A reasoning-model endpoint (`max_completion_tokens`, no sampling parameters).
    pub reasoning: Option<bool>,
    /// With `reasoning`: extra completion tokens for hidden reasoning (default
    /// [`DEFAULT_REASONING_TOKENS`]).
    pub reasoning_tokens: Option<u32>,
}

/// Requests in flight to an endpoint when `concurrency` is not set (`[judge]` and API models).
pub const DEFAULT_CONCURRENCY: usize = 4;

impl ApiModel {
    /// Requests in flight.
    pub fn concurrency(&self) -> usize {
        self.concurrency.unwrap_or(DEFAULT_CONCURRENCY)
    }

    /// The endpoint settings: the chat client's defaults ([`ChatApiConfig::new`]), overridden by
    /// the options this entry sets.
    pub fn chat_api_config(&self) -> ChatApiConfig {
        let mut api = ChatApiConfig::new(self.url.clone(), self.model.clone());
        api.key_env = self.key_env.clone();
        if let Some(t) = self.timeout_s {
            api.timeout = Duration::from_secs(t);
        }
        if let Some(r) = self.max_retries {
            api.max_retries = r;
        }
        if let Some(r) = self.reasoning {
            api.reasoning = r;
        }
        if let Some(t) = self.reasoning_tokens {
            api.reasoning_tokens = t;
        }
        api
    }
}

impl ModelEntry {
    /// A local checkpoint entry with every option unset.
    pub fn local(name: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        Self {
            name: name.into(),
            source: ModelSource::Local(LocalModel {
                path: path.into(),
                ..LocalModel::default()
            }),
        }
    }

    /// An API entry with every option unset.
    pub fn api(name: impl Into<String>, url: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            source: ModelSource::Api(ApiModel {
                url: url.into(),
                model: model.into(),
                ..ApiModel::default()
            }),
        }
    }

    /// True for an API answering model: never fine-tuned, answered through its endpoint.
    pub fn is_api(&self) -> bool {
        matches!(self.source, ModelSource::Api(_))
    }

    /// The checkpoint of a local model.
    pub fn local_model(&self) -> Option<&LocalModel> {
        match &self.source {
            ModelSource::Local(l) => Some(l),
            ModelSource::Api(_) => None,
        }
    }

    /// The endpoint of an API model.
    pub fn api_model(&self) -> Option<&ApiModel> {
        match &self.source {
            ModelSource::Api(a) => Some(a),
            ModelSource::Local(_) => None,
        }
    }

    /// The checkpoint of a local model; an API model is a configuration error naming it (steps
    /// that load weights call this).
    pub fn checkpoint(&self) -> Result<&LocalModel> {
        self.local_model().ok_or_else(|| {
            RunnerError::config(
                "config",
                format!(
                    "model `{}` is kind = \"api\": it has no checkpoint",
                    self.name
                ),
            )
        })
    }
}

/// What `kind` says a `[[models]]` entry is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// A local checkpoint directory.
    #[default]
    Local,
    /// An OpenAI-compatible endpoint.
    Api,
}

impl ModelKind {
    /// For `skip_serializing_if`: the default kind is not written.
    fn is_local(&self) -> bool {
        *self == ModelKind::Local
    }
}

/// A `[[models]]` entry as a config file writes it, and as it serializes: every key of both
/// kinds, flat, the API and precision keys left out while unset (so entries that predate them
/// keep their hashes). [`ModelEntry`] reads and writes itself through this.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelToml {
    pub name: String,
    pub path: PathBuf,
    pub chat_template: Option<String>,
    #[serde(skip_serializing_if = "ModelKind::is_local")]
    pub kind: ModelKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_env: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dtype: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantize: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compute_dtype: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_config: Option<PathBuf>,
}

impl TryFrom<ModelToml> for ModelEntry {
    type Error = String;

    /// Sorts the flat keys into a kind; a key of the other kind, or a missing required one, is an
    /// error naming the model, the key and the fix.
    fn try_from(t: ModelToml) -> std::result::Result<Self, String> {
        let name = t.name;
        let api_keys = [
            ("url", t.url.is_some()),
            ("model", t.model.is_some()),
            ("key_env", t.key_env.is_some()),
            ("concurrency", t.concurrency.is_some()),
            ("timeout_s", t.timeout_s.is_some()),
            ("max_retries", t.max_retries.is_some()),
            ("reasoning", t.reasoning.is_some()),
            ("reasoning_tokens", t.reasoning_tokens.is_some()),
        ];
        let source = match t.kind {
            ModelKind::Local => {
                if let Some((key, _)) = api_keys.iter().find(|(_, set)| *set) {
                    return Err(format!(
                        "model `{name}`: `{key}` is a key of API models; add kind = \"api\" or remove it"
                    ));
                }
                ModelSource::Local(LocalModel {
                    path: t.path,
                    chat_template: t.chat_template,
                    dtype: words::parse_option(&name, "dtype", t.dtype)?,
                    quantize: words::parse_option(&name, "quantize", t.quantize)?,
                    compute_dtype: words::parse_option(&name, "compute_dtype", t.compute_dtype)?,
                    model_config: t.model_config,
                })
            }
            ModelKind::Api => {
                if t.dtype.is_some()
                    || t.quantize.is_some()
                    || t.compute_dtype.is_some()
                    || t.model_config.is_some()
                {
                    return Err(format!(
                        "model `{name}` is kind = \"api\": `dtype`, `quantize`, `compute_dtype` and \
                         `model_config` are for local checkpoints"
                    ));
                }
                if !t.path.as_os_str().is_empty() || t.chat_template.is_some() {
                    return Err(format!(
                        "model `{name}` is kind = \"api\": it has no `path` or `chat_template` (the \
                         endpoint applies its own template)"
                    ));
                }
                let (Some(url), Some(model)) = (t.url, t.model) else {
                    return Err(format!(
                        "model `{name}` is kind = \"api\": `url` and `model` (the endpoint's model name) are required"
                    ));
                };
                ModelSource::Api(ApiModel {
                    url,
                    model,
                    key_env: t.key_env,
                    concurrency: t.concurrency,
                    timeout_s: t.timeout_s,
                    max_retries: t.max_retries,
                    reasoning: t.reasoning,
                    reasoning_tokens: t.reasoning_tokens,
                })
            }
        };
        Ok(Self { name, source })
    }
}

impl From<ModelEntry> for ModelToml {
    fn from(m: ModelEntry) -> Self {
        let word = |v: Option<WeightDtype>| v.map(|d| d.word());
        match m.source {
            ModelSource::Local(l) => ModelToml {
                name: m.name,
                path: l.path,
                chat_template: l.chat_template,
                dtype: word(l.dtype),
                quantize: l.quantize.map(|q| q.word()),
                compute_dtype: word(l.compute_dtype),
                model_config: l.model_config,
                ..ModelToml::default()
            },
            ModelSource::Api(a) => ModelToml {
                name: m.name,
                kind: ModelKind::Api,
                url: Some(a.url),
                model: Some(a.model),
                key_env: a.key_env,
                concurrency: a.concurrency,
                timeout_s: a.timeout_s,
                max_retries: a.max_retries,
                reasoning: a.reasoning,
                reasoning_tokens: a.reasoning_tokens,
                ..ModelToml::default()
            },
        }
    }
}

/// Training sizes (0 = the base model), seeds and, optionally, several training formats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Sweep {
    pub sizes: Vec<usize>,
    pub seeds: Vec<u64>,
    /// Training formats compared in one study (`["qa", "raft"]`); absent = the one
    /// `train.format`. Not written when absent, so configs without it keep their hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub formats: Option<Vec<finefail_train::PromptFormat>>,
}

impl Default for Sweep {
    fn default() -> Self {
        Self {
            sizes: vec![0, 50, 100],
            seeds: vec![0, 1],
            formats: None,
        }
    }
}

impl Config {
    /// The training formats of the study: `sweep.formats`, or the one `train.format`.
    pub fn formats(&self) -> Vec<finefail_train::PromptFormat> {
        self.sweep
            .formats
            .clone()
            .unwrap_or_else(|| vec![self.train.format])
    }

    /// Whether the study compares several training formats, so fine-tuned arm names carry their
    /// format segment (`{dataset}/{model}/{format}/n{N}/s{seed}`).
    pub fn names_formats(&self) -> bool {
        self.formats().len() > 1
    }
}

/// Corpus chunking (see `finefail data prepare`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Chunking {
    /// `chars` or `tokens` (the embedder's tokenizer).
    pub unit: ChunkUnit,
    pub size: usize,
    pub overlap: usize,
}

impl Default for Chunking {
    /// The data crate's defaults (`finefail data prepare` uses the same).
    fn default() -> Self {
        let ChunkConfig {
            unit,
            size,
            overlap,
        } = ChunkConfig::default();
        Self {
            unit,
            size,
            overlap,
        }
    }
}

impl Chunking {
    /// The data crate's chunking settings.
    pub fn chunk_config(&self) -> ChunkConfig {
        ChunkConfig {
            unit: self.unit,
            size: self.size,
            overlap: self.overlap,
        }
    }
}

/// Retrieval, computed once per dataset and shared by every arm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Retrieval {
    /// `bm25`, `dense` or `hybrid` (the rag crate's [`Retriever`] words).
    #[serde(with = "words::word")]
    pub retriever: Retriever,
    pub top_k: usize,
    /// The embedder checkpoint (dense and hybrid retrieval, token chunking).
    pub embedder: PathBuf,
}

impl Default for Retrieval {
    /// The rag crate's defaults (`finefail retrieve` uses the same).
    fn default() -> Self {
        Self {
            retriever: Retriever::default(),
            top_k: DEFAULT_TOP_K,
            embedder: DEFAULT_EMBEDDER_DIR.into(),
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
    pub contexts: Vec<AnswerContext>,
    /// Metrics to compute (default: every deterministic metric, plus the judge's when configured).
    pub metrics: Vec<Metric>,
    /// K demonstrations for the in-context arm `icl{K}/s{seed}` of every local model (0 = off, the
    /// default; not written then, so configs without it keep their hash).
    #[serde(skip_serializing_if = "is_zero")]
    pub icl_shots: usize,
}

fn is_zero(k: &usize) -> bool {
    *k == 0
}

impl Default for Eval {
    fn default() -> Self {
        Self {
            contexts: vec![AnswerContext::Retrieved],
            metrics: Vec::new(),
            icl_shots: 0,
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
    *n == DEFAULT_REASONING_TOKENS
}

impl Default for Judge {
    fn default() -> Self {
        Self {
            url: String::new(),
            model: String::new(),
            key_env: "OPENAI_API_KEY".into(),
            repeats: 1,
            concurrency: DEFAULT_CONCURRENCY,
            timeout_s: ChatApiConfig::new("", "").timeout.as_secs(),
            max_retries: DEFAULT_MAX_RETRIES as usize,
            reasoning: false,
            reasoning_tokens: DEFAULT_REASONING_TOKENS,
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
    pub primary: Vec<Metric>,
    /// Holm family scope: `dataset_model_context` (default) or `context`. Not written when it is
    /// the default, so configs that do not set it keep their hash.
    #[serde(skip_serializing_if = "HolmFamily::is_default")]
    pub family: HolmFamily,
    /// The smallest difference the study should detect with 80 % power: `--plan` then says how
    /// many seeds or test questions it needs. Not written when unset (configs keep their hash).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_mde: Option<f64>,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            bootstrap: 10_000,
            alpha: 0.05,
            seed: 0,
            primary: Vec::new(),
            family: HolmFamily::default(),
            target_mde: None,
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

/// Optional experiment tracking (`[tracking]`): fine-tunes, arms and the comparison logged to an
/// MLflow server, so a study shows up beside a team's other experiments. Off when unset.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tracking {
    /// The MLflow tracking server's base URL (`http://127.0.0.1:5000`); unset = the
    /// `MLFLOW_TRACKING_URI` environment variable, and tracking is off when neither is set.
    pub mlflow_uri: Option<String>,
}

/// Every table of the config and its keys, walked from the structs above: the one list the
/// unknown-key check, `--set` and the docs/config.md test read.
pub fn schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(Schema::of::<Config>)
}

/// The valid keys of `table` (`""` = the top level, `train`, `datasets`).
pub fn keys_of(table: &str) -> &'static [&'static str] {
    schema().keys_of(table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// The rows of docs/config.md's key table: (key, default cell).
    fn documented() -> Vec<(String, String)> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/config.md");
        let doc = std::fs::read_to_string(path).unwrap();
        doc.lines()
            .skip_while(|l| !l.starts_with("| key | type | default |"))
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .map(|l| {
                let cells: Vec<&str> = l.split(" | ").collect();
                let key = cells[0].trim_start_matches("| ").trim_matches('`');
                (key.to_string(), cells[2].to_string())
            })
            .collect()
    }

    #[test]
    fn docs_config_md_lists_every_key_once_and_no_other() {
        let keys = schema().value_keys();
        let doc: Vec<String> = documented().into_iter().map(|(k, _)| k).collect();
        let missing: Vec<&String> = keys.iter().filter(|k| !doc.contains(k)).collect();
        let stale: Vec<&String> = doc.iter().filter(|k| !keys.contains(k)).collect();
        assert!(
            missing.is_empty() && stale.is_empty(),
            "docs/config.md: undocumented keys {missing:?}, stale keys {stale:?}"
        );
        let mut unique = doc.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), doc.len(), "a key is documented twice");
    }

    /// Numbers compare as numbers (`32` documents `32.0`).
    fn same(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
            (Value::Array(x), Value::Array(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
            }
            _ => a == b,
        }
    }

    /// Where a default cell is a plain value (a number, a word, a TOML list), it is the code's
    /// default: the docs cannot drift from the `Default`s.
    #[test]
    fn docs_config_md_defaults_are_the_codes() {
        let mut defaults = serde_json::to_value(Config::default()).unwrap();
        defaults["judge"] = serde_json::to_value(Judge::default()).unwrap();
        defaults["datasets"] = serde_json::to_value(DatasetConfig::default()).unwrap();
        defaults["models"] = serde_json::to_value(ModelToml::default()).unwrap();
        let mut checked = 0;
        for (key, cell) in documented() {
            let path = key.trim_start_matches("[[").replace("]] ", ".");
            let code = path
                .split('.')
                .try_fold(&defaults, |v, k| v.get(k))
                .filter(|v| !v.is_null());
            let Some(code) = code else { continue };
            let text = cell.trim().trim_matches('`');
            let doc = match code {
                Value::String(_) => Some(Value::String(text.to_string())),
                _ => format!("v = {text}")
                    .parse::<toml::Table>()
                    .ok()
                    .and_then(|t| serde_json::to_value(&t["v"]).ok()),
            };
            let Some(doc) = doc else { continue };
            // A cell that describes the default in words (`file stem`, `every epoch`) or has
            // none (`—`) is not a value.
            if text == "—" || (doc.is_string() && text.contains(' ') && !same(&doc, code)) {
                continue;
            }
            assert!(
                same(&doc, code),
                "docs/config.md `{key}`: documents {cell}, the code's default is {code}"
            );
            checked += 1;
        }
        assert!(checked > 40, "only {checked} defaults checked");
    }
}
