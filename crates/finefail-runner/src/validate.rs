//! Static validation of a config: what its types cannot say (ranges, unique names, required
//! entries) and that can be checked without touching the disk. Enum-like settings and which keys
//! belong to which kind of model are already checked when the config is read (their types).
//! What only a run can check (paths, pool sizes, compiled devices) is a plan warning instead.

use crate::config::{ApiModel, Config};
use std::collections::HashSet;

/// Checks `config`; the error is one line naming the key and the fix.
pub fn validate(c: &Config) -> Result<(), String> {
    if let Some(name) = &c.name {
        check_name("name", name)?;
    }
    check_device(&c.device)?;
    if c.datasets.is_empty() {
        return Err("no [[datasets]]: an experiment needs at least one".into());
    }
    if c.models.is_empty() {
        return Err("no [[models]]: an experiment needs at least one".into());
    }
    let mut names = HashSet::new();
    for d in &c.datasets {
        check_name("[[datasets]] name", &d.name)?;
        if !names.insert(&d.name) {
            return Err(format!(
                "two datasets are named `{}`; names must be unique",
                d.name
            ));
        }
        if d.input.as_os_str().is_empty() {
            return Err(format!("dataset `{}` has no `input`", d.name));
        }
        if d.test_size == 0 {
            return Err(format!(
                "dataset `{}` has test_size = 0: there would be no test questions",
                d.name
            ));
        }
        if let Some(sizes) = &d.sizes {
            check_sizes(&format!("datasets.{}.sizes", d.name), sizes)?;
        }
    }
    let mut names = HashSet::new();
    for m in &c.models {
        check_name("[[models]] name", &m.name)?;
        if !names.insert(&m.name) {
            return Err(format!(
                "two models are named `{}`; names must be unique",
                m.name
            ));
        }
        if let Some(api) = m.api_model() {
            check_api_model(&m.name, api)?;
        } else if let Some(local) = m.local_model() {
            if local.path.as_os_str().is_empty() {
                return Err(format!("model `{}` has no `path`", m.name));
            }
            if let Ok(spec) = finefail_model::device::DeviceSpec::parse(&c.device) {
                local
                    .precision()
                    .resolve(spec, None)
                    .map_err(|e| format!("model `{}`: {e}", m.name))?;
            }
        }
    }
    check_sizes("sweep.sizes", &c.sweep.sizes)?;
    if c.sweep.seeds.is_empty() {
        return Err("sweep.seeds is empty: give at least one seed".into());
    }
    check_formats(c.sweep.formats.as_deref())?;
    c.chunking
        .chunk_config()
        .validate()
        .map_err(|e| format!("chunking: {e}"))?;
    if c.retrieval.top_k == 0 {
        return Err("retrieval.top_k must be at least 1".into());
    }
    // The fine-tuning crate owns the [train] and [lora] rules.
    finefail_train::FinetuneSettings {
        train: c.train.clone(),
        lora: c.lora.clone(),
    }
    .validate()
    .map_err(|e| e.to_string())?;
    if c.generation.max_new_tokens == 0 || c.generation.batch_size == 0 {
        return Err("generation: max_new_tokens and batch_size must be at least 1".into());
    }
    if let Some(j) = &c.judge {
        if j.url.is_empty() || j.model.is_empty() {
            return Err("judge: url and model are required when [judge] is present".into());
        }
        if j.repeats == 0 || j.concurrency == 0 {
            return Err("judge: repeats and concurrency must be at least 1".into());
        }
    }
    if c.stats.bootstrap < 10_000 || !(0.0..1.0).contains(&c.stats.alpha) {
        return Err("stats: bootstrap ≥ 10000 and 0 < alpha < 1 are required".into());
    }
    if c.stats
        .target_mde
        .is_some_and(|t| !(t.is_finite() && t > 0.0))
    {
        return Err("stats: target_mde must be a positive difference, e.g. 0.1".into());
    }
    Ok(())
}

/// An API model's values: a non-empty `url`, `model` and `key_env`, positive limits (which keys
/// an API model may have is checked when the config is read).
fn check_api_model(name: &str, m: &ApiModel) -> Result<(), String> {
    if m.url.trim().is_empty() || m.model.trim().is_empty() {
        return Err(format!(
            "model `{name}` is kind = \"api\": `url` and `model` (the endpoint's model name) are required"
        ));
    }
    if m.key_env.as_deref().is_some_and(|k| k.trim().is_empty()) {
        return Err(format!(
            "model `{name}`: key_env is empty; name the environment variable holding the key, or \
             leave key_env out for an endpoint without a key"
        ));
    }
    if m.concurrency == Some(0) || m.timeout_s == Some(0) {
        return Err(format!(
            "model `{name}`: concurrency and timeout_s must be at least 1"
        ));
    }
    Ok(())
}

/// `sweep.formats`: absent, or at least one format, each once (unknown words are refused when the
/// config is read).
fn check_formats(formats: Option<&[finefail_train::PromptFormat]>) -> Result<(), String> {
    let Some(formats) = formats else {
        return Ok(());
    };
    if formats.is_empty() {
        return Err(
            "sweep.formats is empty: list the training formats to compare, e.g. [\"qa\", \"raft\"], \
             or leave it out to use train.format"
                .into(),
        );
    }
    for (i, f) in formats.iter().enumerate() {
        if formats[..i].contains(f) {
            return Err(format!(
                "sweep.formats lists `{f}` twice; list each training format once"
            ));
        }
    }
    Ok(())
}

fn check_sizes(key: &str, sizes: &[usize]) -> Result<(), String> {
    if !sizes.contains(&0) {
        return Err(format!(
            "{key} must include 0 (the base model every size is compared with)"
        ));
    }
    if sizes.len() < 2 {
        return Err(format!("{key} needs at least one training size besides 0"));
    }
    Ok(())
}

fn check_name(key: &str, name: &str) -> Result<(), String> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        return Err(format!(
            "{key} `{name}` may use only letters, digits, `.`, `_` and `-`"
        ));
    }
    Ok(())
}

/// `cpu`, `cuda:N`, `tch-cpu` or `tch-cuda:N`.
pub fn check_device(device: &str) -> Result<(), String> {
    let ok = match device {
        "cpu" | "tch-cpu" => true,
        d => d
            .strip_prefix("cuda:")
            .or_else(|| d.strip_prefix("tch-cuda:"))
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit())),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "device `{device}` is unknown; use cpu, cuda:N, tch-cpu or tch-cuda:N"
        ))
    }
}
