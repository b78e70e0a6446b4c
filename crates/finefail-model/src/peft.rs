//! LoRA adapters on disk in PEFT's layout, so finefail adapters load in PEFT, vLLM and mistral.rs, and
//! adapters trained with Python PEFT load here.
//!
//! A directory holds `adapter_config.json` (`r`, `lora_alpha`, `lora_dropout`, `target_modules`,
//! `base_model_name_or_path`, `peft_type: "LORA"`, `task_type: "CAUSAL_LM"`, `bias: "none"`) and
//! `adapter_model.safetensors` with keys `base_model.model.<module path>.lora_A.weight` `[r, in]` and
//! `…lora_B.weight` `[out, r]`. Saving is atomic (a temporary directory renamed into place); loading
//! checks every key and shape against the base model.

use crate::error::{ModelError, Result};
use crate::llama::Llama;
use crate::weights::{tensor_values, transpose, write_safetensors_with_metadata, Checkpoint};
use finefail_core::atomic::StagedDir;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

/// The adapter config file name.
pub const CONFIG_FILE: &str = "adapter_config.json";
/// The adapter weights file name.
pub const WEIGHTS_FILE: &str = "adapter_model.safetensors";

/// The fields of `adapter_config.json` finefail reads and writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdapterConfig {
    /// Always "LORA".
    pub peft_type: String,
    /// Always "CAUSAL_LM".
    pub task_type: String,
    /// Rank.
    pub r: usize,
    /// Scale numerator (`alpha / r`).
    pub lora_alpha: f64,
    /// Dropout on the adapter input during training.
    #[serde(default)]
    pub lora_dropout: f64,
    /// Module names wrapped (e.g. `["q_proj", "v_proj"]`).
    pub target_modules: Vec<String>,
    /// Which base model the adapter was trained on (a path or hub name; informative).
    #[serde(default)]
    pub base_model_name_or_path: Option<String>,
    /// Bias training: only "none" is supported.
    #[serde(default = "bias_none")]
    pub bias: String,
    /// PEFT's flag for Conv1D-style weights; must be false for Llama-family models.
    #[serde(default)]
    pub fan_in_fan_out: bool,
    /// rsLoRA: scale `alpha / sqrt(r)` instead of `alpha / r`.
    #[serde(default)]
    pub use_rslora: bool,
    /// Set by PEFT for inference-only adapters; kept for compatibility.
    #[serde(default)]
    pub inference_mode: bool,
}

fn bias_none() -> String {
    "none".into()
}

impl AdapterConfig {
    /// The config of adapters attached with `lora` to the model at `base_model_name_or_path`.
    pub fn new(lora: &crate::lora::LoraConfig, base_model_name_or_path: &str) -> Self {
        Self {
            peft_type: "LORA".into(),
            task_type: "CAUSAL_LM".into(),
            r: lora.r,
            lora_alpha: lora.alpha,
            lora_dropout: lora.dropout,
            target_modules: lora.targets.clone(),
            base_model_name_or_path: Some(base_model_name_or_path.into()),
            bias: bias_none(),
            fan_in_fan_out: false,
            use_rslora: false,
            inference_mode: true,
        }
    }

    /// The scale of the adapter path.
    pub fn scale(&self) -> f64 {
        if self.use_rslora {
            self.lora_alpha / (self.r as f64).sqrt()
        } else {
            self.lora_alpha / self.r as f64
        }
    }

    /// Reads and checks `dir/adapter_config.json`.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let path = dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| ModelError::io(&path, e))?;
        let raw: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| ModelError::bad_input(&path, format!("not valid JSON: {e}")))?;
        // Options PEFT supports that would change the meaning of the weights: refuse rather than misread.
        for key in ["rank_pattern", "alpha_pattern"] {
            if raw
                .get(key)
                .and_then(|v| v.as_object())
                .is_some_and(|o| !o.is_empty())
            {
                return Err(ModelError::bad_input(
                    &path,
                    format!("`{key}` is not supported"),
                ));
            }
        }
        for key in ["layers_to_transform", "modules_to_save"] {
            if raw.get(key).is_some_and(|v| !v.is_null()) {
                return Err(ModelError::bad_input(
                    &path,
                    format!("`{key}` is not supported"),
                ));
            }
        }
        if raw.get("use_dora").and_then(|v| v.as_bool()) == Some(true) {
            return Err(ModelError::bad_input(
                &path,
                "DoRA adapters (`use_dora`) are not supported",
            ));
        }
        if raw.get("target_modules").is_some_and(|v| v.is_string()) {
            return Err(ModelError::bad_input(
                &path,
                "`target_modules` as a regex string is not supported; list the names",
            ));
        }
        let cfg: AdapterConfig = serde_json::from_value(raw)
            .map_err(|e| ModelError::bad_input(&path, format!("invalid adapter config: {e}")))?;
        let check = |ok: bool, msg: String| {
            if ok {
                Ok(())
            } else {
                Err(ModelError::bad_input(&path, msg))
            }
        };
        check(
            cfg.peft_type == "LORA",
            format!("`peft_type` is {:?}, expected \"LORA\"", cfg.peft_type),
        )?;
        check(cfg.r > 0, "`r` must be positive".into())?;
        check(
            cfg.bias == "none",
            format!("`bias` {:?} is not supported (only \"none\")", cfg.bias),
        )?;
        check(
            !cfg.fan_in_fan_out,
            "`fan_in_fan_out` must be false for Llama-family models".into(),
        )?;
        check(
            cfg.lora_alpha.is_finite() && cfg.lora_alpha > 0.0,
            "`lora_alpha` must be positive".into(),
        )?;
        Ok(cfg)
    }
}

/// Writes the adapters attached to `model` to `dir` in PEFT layout (replacing `dir` atomically).
pub fn save_adapter(model: &Llama, dir: &Path, config: &AdapterConfig) -> Result<()> {
    let mut tensors = Vec::new();
    for (path, lin) in model.linears() {
        let Some(l) = &lin.lora else { continue };
        if lin.merged {
            return Err(ModelError::Other(format!(
                "{path}: unmerge adapters before saving them"
            )));
        }
        let (d_in, d_out) = (lin.d_in(), lin.d_out());
        let r = l.a.dims()[1];
        let a = tensor_values(l.a.val())?;
        let b = tensor_values(l.b.val())?;
        tensors.push((
            format!("base_model.model.{path}.lora_A.weight"),
            vec![r, d_in],
            transpose(&a, d_in, r),
        ));
        tensors.push((
            format!("base_model.model.{path}.lora_B.weight"),
            vec![d_out, r],
            transpose(&b, r, d_out),
        ));
    }
    if tensors.is_empty() {
        return Err(ModelError::Other(
            "the model has no LoRA adapters to save".into(),
        ));
    }
    if dir.file_name().is_none() {
        return Err(ModelError::bad_input(dir, "not a directory path"));
    }
    let staged = StagedDir::new(dir)?;
    let json =
        serde_json::to_string_pretty(config).map_err(|e| ModelError::Other(e.to_string()))?;
    let config_path = staged.path().join(CONFIG_FILE);
    std::fs::write(&config_path, json + "\n").map_err(|e| ModelError::io(&config_path, e))?;
    let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
    write_safetensors_with_metadata(&staged.path().join(WEIGHTS_FILE), tensors, Some(meta))?;
    Ok(staged.commit()?)
}

/// Loads the PEFT adapter in `dir` onto `model` (replacing adapters already attached), checking that
/// every targeted projection has both tensors with shapes matching the base model and that no tensor
/// is left over. Returns the adapter's config.
pub fn load_adapter(model: &mut Llama, dir: &Path) -> Result<AdapterConfig> {
    let cfg = AdapterConfig::from_dir(dir)?;
    let weights = dir.join(WEIGHTS_FILE);
    if !weights.is_file() {
        return Err(ModelError::bad_input(
            dir,
            format!("no {WEIGHTS_FILE} in the adapter directory"),
        ));
    }
    let ck = Checkpoint::open_files(dir, std::slice::from_ref(&weights))?;
    let targetable: BTreeSet<String> = model
        .linears()
        .iter()
        .filter_map(|(p, _)| p.rsplit('.').next().map(str::to_string))
        .collect();
    for t in &cfg.target_modules {
        if !targetable.contains(t) {
            return Err(ModelError::bad_input(
                dir.join(CONFIG_FILE),
                format!(
                    "target module `{t}` does not exist in this model (has: {})",
                    targetable.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
    }
    let device = model.device();
    let mut used = BTreeSet::new();
    let scale = cfg.scale();
    // Read everything first so a bad adapter leaves the model untouched.
    let mut staged = Vec::new();
    for (path, lin) in model.linears() {
        let kind = path.rsplit('.').next().unwrap_or_default();
        if !cfg.target_modules.iter().any(|t| t == kind) {
            continue;
        }
        let (d_in, d_out) = (lin.d_in(), lin.d_out());
        let key_a = format!("base_model.model.{path}.lora_A.weight");
        let key_b = format!("base_model.model.{path}.lora_B.weight");
        let a = read_checked(&ck, &weights, &key_a, &[cfg.r, d_in])?;
        let b = read_checked(&ck, &weights, &key_b, &[d_out, cfg.r])?;
        used.insert(key_a);
        used.insert(key_b);
        staged.push((
            path,
            transpose(&a, cfg.r, d_in),
            transpose(&b, d_out, cfg.r),
        ));
    }
    if let Some(extra) = ck.names().into_iter().find(|n| !used.contains(*n)) {
        return Err(ModelError::bad_input(
            &weights,
            format!("tensor `{extra}` does not match any targeted projection of this model (adapter for another base model?)"),
        ));
    }
    let mut by_path: HashMap<String, (Vec<f32>, Vec<f32>)> =
        staged.into_iter().map(|(p, a, b)| (p, (a, b))).collect();
    for (path, lin) in model.linears_mut() {
        lin.unmerge();
        lin.lora = None;
        if let Some((a, b)) = by_path.remove(&path) {
            lin.set_lora(a, b, cfg.r, scale, cfg.lora_dropout, &device);
        }
    }
    Ok(cfg)
}

/// Reads an adapter tensor, naming the key and both shapes when it does not fit the base model.
fn read_checked(ck: &Checkpoint, file: &Path, key: &str, expected: &[usize]) -> Result<Vec<f32>> {
    match ck.info(key) {
        None => Err(ModelError::bad_input(file, format!("tensor `{key}` is missing (expected shape {expected:?})"))),
        Some((shape, _)) if shape != expected => Err(ModelError::bad_input(
            file,
            format!("tensor `{key}` has shape {shape:?} but the base model needs {expected:?} (adapter for another base model or rank?)"),
        )),
        Some(_) => ck.read_f32(key, expected),
    }
}
