//! The recipe's settings: `train.*` and `lora.*`, with the defaults of `docs/config.md` and common
//! LoRA practice (r 16, alpha 32, dropout 0.05 on q/k/v/o; AdamW lr 2e-4, betas
//! (0.9, 0.999), eps 1e-8, no weight decay; clip 1.0; 3 % linear warmup then linear decay; effective
//! batch 8; 3 epochs; 512 tokens). The runner's `[train]` and `[lora]` tables are these structs;
//! the CLI applies `--set train.KEY=VALUE` overrides with [`FinetuneSettings::apply_set`], through
//! the same [`schema`] parser as `finefail run --set`.

pub mod schema;

use crate::error::{Result, TrainError};
use schema::Schema;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

/// LoRA settings (`lora.*`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoraSettings {
    /// Rank r.
    pub r: usize,
    /// Scale numerator (update × alpha / r).
    pub alpha: f64,
    /// Dropout on the adapter input.
    pub dropout: f64,
    /// Projections to wrap.
    pub targets: Vec<String>,
}

impl Default for LoraSettings {
    fn default() -> Self {
        Self {
            r: 16,
            alpha: 32.0,
            dropout: 0.05,
            targets: ["q_proj", "k_proj", "v_proj", "o_proj"]
                .map(String::from)
                .to_vec(),
        }
    }
}

/// Training settings (`train.*`); key names match the runner's `[train]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// `qa` (question → answer), `rag` (question + retrieved chunks → answer) or `raft` (question
    /// + gold passage and distractors → answer).
    pub format: PromptFormat,
    /// Passes over the training subset (ignored when `max_steps` is set).
    pub epochs: usize,
    /// Stop after this many optimizer steps (overrides epochs).
    pub max_steps: Option<usize>,
    /// Peak learning rate.
    pub lr: f64,
    /// AdamW β₁, β₂.
    pub betas: [f64; 2],
    /// AdamW ε.
    pub eps: f64,
    /// Decoupled weight decay (PyTorch AdamW).
    pub weight_decay: f64,
    /// Global gradient-norm clip (0 = off).
    pub max_grad_norm: f64,
    /// `linear`, `cosine` or `constant` after warmup.
    pub schedule: LrSchedule,
    /// Warmup steps = ceil(warmup_ratio × total steps).
    pub warmup_ratio: f64,
    /// Effective batch size (examples per optimizer step).
    pub batch_size: usize,
    /// Examples per forward pass; gradient accumulation makes up the batch (default = batch_size).
    pub micro_batch_size: Option<usize>,
    /// Longest example in tokens (prompt + answer); prompts are trimmed to fit, answers never.
    pub max_seq_len: usize,
    /// Checkpoint every K optimizer steps (0 = only at the end).
    pub checkpoint_every: usize,
    /// Validate every K steps (default: at the end of every epoch).
    pub eval_every: Option<usize>,
    /// Stop after this many validations without improvement (default: never).
    pub early_stop_patience: Option<usize>,
    /// `best` (lowest validation loss) or `last`.
    pub keep: Keep,
    /// Recompute each decoder layer in the backward instead of keeping its activations: one
    /// layer's activations alive at a time, for one extra forward (see `recompute.rs`). Left out
    /// of the serialized settings while off, so configs that predate it keep their hashes.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub gradient_checkpointing: bool,
    /// `raft` only: distractor passages per example (RAFT's D). Left out of the serialized
    /// settings at its default, so configs that predate it keep their hashes.
    #[serde(skip_serializing_if = "is_default_raft_distractors")]
    pub raft_distractors: usize,
    /// `raft` only: the share P of examples that keep their gold passage (the others get
    /// distractors only). Left out of the serialized settings at its default, as above.
    #[serde(skip_serializing_if = "is_default_raft_gold_fraction")]
    pub raft_gold_fraction: f64,
}

/// Default of `train.raft_distractors` (RAFT's setting for most of its datasets: 1 gold + 3-4
/// distractors).
pub const DEFAULT_RAFT_DISTRACTORS: usize = 3;
/// Default of `train.raft_gold_fraction` (RAFT found P = 80 % to work well across datasets).
pub const DEFAULT_RAFT_GOLD_FRACTION: f64 = 0.8;

/// Whether `train.raft_distractors` is at its default (then it is not serialized).
fn is_default_raft_distractors(v: &usize) -> bool {
    *v == DEFAULT_RAFT_DISTRACTORS
}

/// Whether `train.raft_gold_fraction` is at its default (then it is not serialized).
fn is_default_raft_gold_fraction(v: &f64) -> bool {
    *v == DEFAULT_RAFT_GOLD_FRACTION
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            format: PromptFormat::Qa,
            epochs: 3,
            max_steps: None,
            lr: 2e-4,
            betas: [0.9, 0.999],
            eps: 1e-8,
            weight_decay: 0.0,
            max_grad_norm: 1.0,
            schedule: LrSchedule::Linear,
            warmup_ratio: 0.03,
            batch_size: 8,
            micro_batch_size: None,
            max_seq_len: 512,
            checkpoint_every: 50,
            eval_every: None,
            early_stop_patience: None,
            keep: Keep::Best,
            gradient_checkpointing: false,
            raft_distractors: DEFAULT_RAFT_DISTRACTORS,
            raft_gold_fraction: DEFAULT_RAFT_GOLD_FRACTION,
        }
    }
}

/// How a question is put to the model (`train.format`); `qa` and `rag` are the evaluation's own
/// prompts, and `raft` trains on the `rag` prompt shape with other passages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum PromptFormat {
    /// `qa`: the closed-book prompt, question → answer.
    Qa,
    /// `rag`: the question with its retrieved chunks → answer (needs a retrieval directory).
    Rag,
    /// `raft`: the `rag` prompt with the gold passage and distractors (gold left out for a share
    /// of examples) → answer; hard negatives from a retrieval directory when given ([`crate::raft`]).
    Raft,
}

impl PromptFormat {
    /// Whether a fine-tune in this format reads the dataset's retrieval (`rag`: the context;
    /// `raft`: hard-negative distractors), so a runner makes it wait for the retrieval step.
    pub fn reads_retrieval(self) -> bool {
        matches!(self, PromptFormat::Rag | PromptFormat::Raft)
    }
}

/// Which adapter ends up in `OUT/adapter/` (`train.keep`): small subsets overfit, so the default
/// keeps the one of the lowest validation loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum Keep {
    /// `best`: the adapter of the lowest validation loss (the last one when nothing was validated).
    Best,
    /// `last`: the adapter of the last step.
    Last,
}

/// The learning-rate schedule after warmup (`train.schedule`), as transformers'
/// `get_{linear,cosine,constant}_schedule_with_warmup` ([`crate::schedule`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum LrSchedule {
    /// `linear`: decays to 0 at the last step.
    Linear,
    /// `cosine`: half a cosine down to 0.
    Cosine,
    /// `constant`: the peak rate throughout.
    Constant,
}

/// A setting whose value is one of a few words (`train.format`, `train.keep`): its key and its
/// (word, value) table, from which [`config_word!`] derives the name, the parse (`--set`,
/// `--format`, config files through serde) and the error, so every such setting is read one way
/// and names its key and its choices the same way.
trait ConfigWord: Copy + PartialEq + 'static {
    /// The key the value is given under (`train.format`).
    const KEY: &'static str;
    /// Every (word, value) pair, in the order the error lists them.
    const CHOICES: &'static [(&'static str, Self)];

    /// The word of `self`.
    fn word(self) -> &'static str {
        Self::CHOICES
            .iter()
            .find(|(_, v)| *v == self)
            .map_or("", |(w, _)| w)
    }

    /// The value of `word`; an unknown word is bad input naming the key and the choices.
    fn parse_word(word: &str) -> Result<Self> {
        Self::lookup(word).map_err(|m| TrainError::bad_input(Self::KEY, m))
    }

    /// The value of `word`, or what is wrong with it (the word and the choices) without a key:
    /// for serde, whose caller names the key the value sat under (`train.format`, or
    /// `sweep.formats` for a list of formats).
    fn lookup(word: &str) -> std::result::Result<Self, String> {
        match Self::CHOICES.iter().find(|(w, _)| *w == word) {
            Some((_, v)) => Ok(*v),
            None => {
                let words: Vec<&str> = Self::CHOICES.iter().map(|(w, _)| *w).collect();
                let choices = match words.split_last() {
                    Some((last, rest)) if !rest.is_empty() => {
                        format!("{} or {last}", rest.join(", "))
                    }
                    _ => words.concat(),
                };
                Err(format!("`{word}`: expected {choices}"))
            }
        }
    }
}

/// Implements [`ConfigWord`] for `$t` from its key and word table, with `as_str`, `Display`,
/// `FromStr` and the `TryFrom<String>` serde reads it through.
macro_rules! config_word {
    ($t:ty, $key:literal, [$(($word:literal, $value:expr)),+ $(,)?]) => {
        impl ConfigWord for $t {
            const KEY: &'static str = $key;
            const CHOICES: &'static [(&'static str, Self)] = &[$(($word, $value)),+];
        }

        impl $t {
            /// The name used in configs, `--set`, `--format` and `train_summary.json`.
            pub fn as_str(self) -> &'static str {
                self.word()
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $t {
            type Err = TrainError;

            fn from_str(s: &str) -> Result<Self> {
                Self::parse_word(s)
            }
        }

        impl TryFrom<String> for $t {
            type Error = String;

            fn try_from(s: String) -> std::result::Result<Self, String> {
                Self::lookup(&s)
            }
        }
    };
}

config_word!(
    PromptFormat,
    "train.format",
    [
        ("qa", PromptFormat::Qa),
        ("rag", PromptFormat::Rag),
        ("raft", PromptFormat::Raft)
    ]
);
config_word!(
    LrSchedule,
    "train.schedule",
    [
        ("linear", LrSchedule::Linear),
        ("cosine", LrSchedule::Cosine),
        ("constant", LrSchedule::Constant)
    ]
);
config_word!(
    Keep,
    "train.keep",
    [("best", Keep::Best), ("last", Keep::Last)]
);

/// Both tables together, as `--set` addresses them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FinetuneSettings {
    /// `train.*`.
    pub train: TrainConfig,
    /// `lora.*`.
    pub lora: LoraSettings,
}

impl FinetuneSettings {
    /// The keys of `[train]` and `[lora]`, walked from the structs ([`Schema::of`]).
    pub fn schema() -> &'static Schema {
        static SCHEMA: OnceLock<Schema> = OnceLock::new();
        SCHEMA.get_or_init(Schema::of::<Self>)
    }

    /// Applies one `train.KEY=VALUE` or `lora.KEY=VALUE` override with the parser `finefail run
    /// --set` uses ([`Schema::apply_set`]): VALUE is TOML (`1e-4`, `"cosine"`,
    /// `["q_proj","v_proj"]`); a bare word that is not TOML is taken as a string (`schedule=cosine`).
    pub fn apply_set(&mut self, assignment: &str) -> Result<()> {
        let bad = |m: String| {
            TrainError::bad_input(
                format!("--set {assignment}"),
                Schema::explain_set(assignment, &m),
            )
        };
        let key = assignment
            .split_once('=')
            .map_or(assignment, |(k, _)| k)
            .trim();
        if !(key.starts_with("train.") || key.starts_with("lora.")) {
            return Err(bad(format!(
                "finetune takes only train.* and lora.* settings, not `{key}`"
            )));
        }
        let schema = Self::schema();
        let mut table =
            toml::Table::try_from(&*self).map_err(|e| TrainError::Other(e.to_string()))?;
        schema
            .apply_set(&mut table, assignment)
            .and_then(|()| schema.check(&table))
            .and_then(|()| schema.read(table))
            .map(|settings| *self = settings)
            .map_err(bad)
    }

    /// Checks value ranges and enumerations; the message names the key.
    pub fn validate(&self) -> Result<()> {
        let t = &self.train;
        let bad = |k: &str, m: String| TrainError::bad_input(format!("train.{k}"), m);
        if t.batch_size == 0 || t.micro_batch_size == Some(0) {
            return Err(bad("batch_size", "batch sizes must be positive".into()));
        }
        if t.max_steps.is_none() && t.epochs == 0 {
            return Err(bad("epochs", "epochs must be positive".into()));
        }
        if t.max_steps == Some(0) {
            return Err(bad("max_steps", "max_steps must be positive".into()));
        }
        if !(t.lr.is_finite() && t.lr >= 0.0) {
            return Err(bad("lr", format!("{} is not a valid learning rate", t.lr)));
        }
        if t.betas.iter().any(|b| !(0.0..1.0).contains(b)) {
            return Err(bad(
                "betas",
                format!("{:?}: each must be in [0, 1)", t.betas),
            ));
        }
        if t.eps.is_nan() || t.eps <= 0.0 || t.weight_decay < 0.0 || t.max_grad_norm < 0.0 {
            return Err(bad(
                "eps",
                "eps must be positive, weight_decay and max_grad_norm non-negative".into(),
            ));
        }
        if !(0.0..=1.0).contains(&t.warmup_ratio) {
            return Err(bad("warmup_ratio", "must be in [0, 1]".into()));
        }
        if t.max_seq_len < 2 {
            return Err(bad("max_seq_len", "must be at least 2".into()));
        }
        if !(0.0..=1.0).contains(&t.raft_gold_fraction) {
            return Err(bad(
                "raft_gold_fraction",
                format!("{} must be in [0, 1]", t.raft_gold_fraction),
            ));
        }
        if t.eval_every == Some(0) || t.early_stop_patience == Some(0) {
            return Err(bad(
                "eval_every",
                "eval_every and early_stop_patience must be positive".into(),
            ));
        }
        self.lora_config(0)
            .validate()
            .map_err(|m| TrainError::bad_input("lora", m))
    }

    /// Examples per forward pass.
    pub fn micro_batch(&self) -> usize {
        self.train
            .micro_batch_size
            .unwrap_or(self.train.batch_size)
            .min(self.train.batch_size)
    }

    /// The model crate's LoRA config, with the adapter-initialisation seed.
    pub fn lora_config(&self, seed: u64) -> finefail_model::lora::LoraConfig {
        finefail_model::lora::LoraConfig {
            r: self.lora.r,
            alpha: self.lora.alpha,
            dropout: self.lora.dropout,
            targets: self.lora.targets.clone(),
            seed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_parses_toml_values_and_names_unknown_keys() {
        let mut s = FinetuneSettings::default();
        s.apply_set("train.lr=1e-4").unwrap();
        s.apply_set("train.schedule=cosine").unwrap();
        s.apply_set("train.max_steps=7").unwrap();
        s.apply_set("lora.targets=[\"q_proj\", \"v_proj\"]")
            .unwrap();
        s.apply_set("train.betas=[0.8, 0.9]").unwrap();
        assert_eq!(s.train.lr, 1e-4);
        assert_eq!(s.train.schedule, LrSchedule::Cosine);
        assert_eq!(s.train.max_steps, Some(7));
        assert_eq!(s.train.betas, [0.8, 0.9]);
        assert_eq!(s.lora.targets, vec!["q_proj", "v_proj"]);
        let e = s.apply_set("train.lrr=1").unwrap_err();
        assert!(e.is_bad_input() && e.to_string().contains("lrr"), "{e}");
        assert!(s.apply_set("model.x=1").unwrap_err().is_bad_input());
        assert!(s
            .apply_set("train.epochs=\"x\"")
            .unwrap_err()
            .is_bad_input());
        let e = s.apply_set("train.schedule=\"weird\"").unwrap_err();
        assert!(
            e.is_bad_input()
                && e.to_string()
                    .contains("train.schedule: `weird`: expected linear, cosine or constant"),
            "{e}"
        );
        let e = s.apply_set("train.lrr=1").unwrap_err();
        assert!(e.to_string().contains("did you mean `train.lr`?"), "{e}");
        // Every key of both tables is settable, the optional ones included.
        let keys = FinetuneSettings::schema().value_keys();
        assert!(
            keys.contains(&"train.gradient_checkpointing".to_string()),
            "{keys:?}"
        );
        assert_eq!(keys.len(), 4 + 20);
        s.apply_set("train.gradient_checkpointing=true").unwrap();
        assert!(s.train.gradient_checkpointing);
        s.apply_set("train.lr=0.1").unwrap();
        assert_eq!(s.train.lr, 0.1);
    }

    #[test]
    fn format_and_keep_keep_their_config_strings() {
        let mut s = FinetuneSettings::default();
        assert_eq!(
            (s.train.format, s.train.keep),
            (PromptFormat::Qa, Keep::Best)
        );
        s.apply_set("train.format=rag").unwrap();
        s.apply_set("train.keep=\"last\"").unwrap();
        assert_eq!(
            (s.train.format, s.train.keep),
            (PromptFormat::Rag, Keep::Last)
        );
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["train"]["format"], "rag");
        assert_eq!(json["train"]["keep"], "last");
        let e = s.apply_set("train.keep=worst").unwrap_err();
        assert!(
            e.is_bad_input()
                && e.to_string()
                    .contains("train.keep: `worst`: expected best or last"),
            "{e}"
        );
        // Through serde the word's error leaves the key to the reader, which names the key the
        // value sat under (here `train.format`; a list under `sweep.formats` names that).
        let e = toml::from_str::<FinetuneSettings>("[train]\nformat = \"chat\"\n").unwrap_err();
        assert_eq!(e.message(), "`chat`: expected qa, rag or raft");
        let e = s.apply_set("train.format=chat").unwrap_err();
        assert!(
            e.is_bad_input()
                && e.to_string()
                    .contains("train.format: `chat`: expected qa, rag or raft"),
            "{e}"
        );
        assert_eq!("qa".parse::<PromptFormat>().unwrap(), PromptFormat::Qa);
        let e = "chat".parse::<PromptFormat>().unwrap_err();
        assert!(
            e.is_bad_input() && e.to_string().contains("train.format"),
            "{e}"
        );
    }

    #[test]
    fn raft_keys_are_serialized_only_away_from_their_defaults() {
        let mut s = FinetuneSettings::default();
        let json = serde_json::to_value(&s).unwrap();
        assert!(json["train"].get("raft_distractors").is_none(), "{json}");
        assert!(json["train"].get("raft_gold_fraction").is_none(), "{json}");
        s.apply_set("train.format=raft").unwrap();
        s.apply_set("train.raft_distractors=5").unwrap();
        s.apply_set("train.raft_gold_fraction=0.6").unwrap();
        assert_eq!(s.train.format, PromptFormat::Raft);
        assert!(s.train.format.reads_retrieval() && !PromptFormat::Qa.reads_retrieval());
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["train"]["raft_distractors"], 5);
        assert_eq!(json["train"]["raft_gold_fraction"], 0.6);
        s.validate().unwrap();
        s.apply_set("train.raft_gold_fraction=1.5").unwrap();
        let e = s.validate().unwrap_err();
        assert!(e.to_string().contains("train.raft_gold_fraction"), "{e}");
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let s = FinetuneSettings::default();
        assert_eq!((s.lora.r, s.lora.alpha, s.lora.dropout), (16, 32.0, 0.05));
        assert_eq!(
            (s.train.lr, s.train.eps, s.train.weight_decay),
            (2e-4, 1e-8, 0.0)
        );
        assert_eq!(
            (s.train.batch_size, s.train.epochs, s.train.max_seq_len),
            (8, 3, 512)
        );
        assert_eq!(s.micro_batch(), 8);
        s.validate().unwrap();
    }
}
