//! What each kind of step logs, read from its finished output in the run folder: a fine-tune's
//! settings and losses (`metrics.jsonl`, `train_summary.json`), an arm's metric means
//! (`scores.parquet`), the comparisons (`comparison.json`). Files are read as JSON values, so a
//! field added to them later never breaks tracking.

use super::client::{Batch, Point};
use crate::config::Config;
use crate::plan::Step;
use finefail_core::{files, ArmId};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// The numbers of `train_summary.json` logged as metrics of a fine-tune.
const SUMMARY_METRICS: &[&str] = &[
    "examples",
    "val_examples",
    "tokens",
    "steps",
    "epochs",
    "wall_time_s",
    "final_loss",
    "initial_val_loss",
    "final_val_loss",
    "best_val_loss",
    "best_step",
    "adapter_step",
];

/// The comparison fields logged as metrics (the verdict is a tag).
const COMPARISON_METRICS: &[&str] = &[
    "diff",
    "ci_low",
    "ci_high",
    "p",
    "p_holm",
    "base_mean",
    "ft_mean",
];

/// A fine-tune (`finetune/{dataset}/{model}/n{N}/s{seed}`): the train and LoRA settings, N, seed,
/// model and dataset as params; training loss per optimizer step and validation loss per
/// evaluation as metrics.
pub fn finetune(config: &Config, step: &Step, run_dir: &Path) -> Batch {
    let mut b = Batch::default();
    let rest = step.id.trim_start_matches("finetune/");
    if let Ok(arm) = rest.parse::<ArmId>() {
        arm_params(&mut b, &arm);
        if let Ok(local) = config.model(&arm.model).and_then(|m| m.checkpoint()) {
            b.params
                .push(("model_path".into(), local.path.display().to_string()));
        }
    }
    for (prefix, value) in [
        ("train", serde_json::to_value(&config.train)),
        ("lora", serde_json::to_value(&config.lora)),
    ] {
        if let Ok(Value::Object(map)) = value {
            for (k, v) in map {
                if !v.is_null() {
                    b.params.push((format!("{prefix}.{k}"), param_text(&v)));
                }
            }
        }
    }
    let out = run_dir.join(&step.output);
    let text = std::fs::read_to_string(out.join(files::TRAIN_METRICS)).unwrap_or_default();
    for row in text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
    {
        let s = row["step"].as_u64().unwrap_or(0);
        let pairs: &[(&str, &str)] = match row["kind"].as_str() {
            Some("train") => &[
                ("train_loss", "loss"),
                ("lr", "lr"),
                ("grad_norm", "grad_norm"),
                ("tokens_per_s", "tokens_per_s"),
            ],
            Some("val") => &[("val_loss", "val_loss")],
            _ => &[],
        };
        for (key, field) in pairs {
            if let Some(value) = row[*field].as_f64() {
                b.metrics.push(point(key, value, s));
            }
        }
    }
    if let Some(summary) = read_json(&out.join(files::TRAIN_SUMMARY)) {
        for key in SUMMARY_METRICS {
            if let Some(v) = summary[*key].as_f64() {
                b.metrics.push(point(key, v, 0));
            }
        }
        if let Some(sha) = summary["adapter_sha256"].as_str() {
            b.tags.push(("finefail.adapter_sha256".into(), sha.into()));
        }
    }
    b
}

/// An arm's scores (`score/{arm}`): the mean of each metric over its questions (and judge
/// repeats), the number of questions, and the arm's parts as params.
pub fn score(step: &Step, run_dir: &Path) -> Result<Batch, String> {
    let mut b = Batch::default();
    let arm = step.id.trim_start_matches("score/");
    b.params.push(("arm".into(), arm.into()));
    if let Ok(arm) = arm.parse::<ArmId>() {
        arm_params(&mut b, &arm);
        b.params
            .push(("context".into(), context_word(&arm.context.to_string())));
    }
    let path = run_dir.join(&step.output).join(files::SCORES);
    let rows = finefail_score::read_scores(&path).map_err(|e| e.to_string())?;
    let mut sums: BTreeMap<&'static str, (f64, usize)> = BTreeMap::new();
    let mut questions = std::collections::BTreeSet::new();
    for r in &rows {
        questions.insert(r.question_id.as_str());
        if let Some(v) = r.value {
            let e = sums.entry(r.metric.name()).or_default();
            e.0 += v;
            e.1 += 1;
        }
    }
    for (name, (sum, n)) in sums {
        b.metrics.push(point(name, sum / n as f64, 0));
    }
    b.metrics
        .push(point("questions", questions.len() as f64, 0));
    Ok(b)
}

/// The study's comparisons (`comparison.json`): per comparison `diff`, `ci_low`, `ci_high`, `p`,
/// `p_holm` (and both means) as metrics under `{dataset}/{model}/{context}/{metric}/n{N}` (a size
/// against the previous one: `n{N}_vs_n{M}`), its verdict as a tag of the same key + `/verdict`.
pub fn comparison(step: &Step, run_dir: &Path) -> Result<Batch, String> {
    let path = run_dir.join(&step.output);
    let file = read_json(&path).ok_or_else(|| format!("{}: not readable", path.display()))?;
    let mut b = Batch::default();
    for key in ["alpha", "config_hash", "primary_source"] {
        if let Some(v) = file.get(key).filter(|v| !v.is_null()) {
            b.params.push((key.into(), param_text(v)));
        }
    }
    let entries = file["comparisons"].as_array().cloned().unwrap_or_default();
    b.params
        .push(("comparisons".into(), entries.len().to_string()));
    for c in &entries {
        let prefix = comparison_key(c);
        for field in COMPARISON_METRICS {
            if let Some(v) = c[*field].as_f64() {
                b.metrics.push(point(&format!("{prefix}/{field}"), v, 0));
            }
        }
        if let Some(verdict) = c["verdict"].as_str() {
            b.tags.push((format!("{prefix}/verdict"), verdict.into()));
        }
    }
    Ok(b)
}

/// `{dataset}/{model}/{context}/{metric}/n{N}` (or `n{N}_vs_n{M}` against the previous size).
pub fn comparison_key(c: &Value) -> String {
    let text = |k: &str| match &c[k] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let n = c["n"].as_u64().unwrap_or(0);
    let size = match (c["kind"].as_str(), c["reference_n"].as_u64()) {
        (Some("vs_previous"), Some(m)) => format!("n{n}_vs_n{m}"),
        _ => format!("n{n}"),
    };
    format!(
        "{}/{}/{}/{}/{size}",
        text("dataset"),
        text("model"),
        context_word(&text("context")),
        text("metric")
    )
}

/// The params every arm-shaped step shares: dataset, model, N and seed, plus the in-context K
/// and the training format when the arm has them.
fn arm_params(b: &mut Batch, arm: &ArmId) {
    b.params.push(("dataset".into(), arm.dataset.clone()));
    b.params.push(("model".into(), arm.model.clone()));
    b.params.push(("n".into(), arm.n.to_string()));
    if let Some(k) = arm.icl {
        b.params.push(("icl_shots".into(), k.to_string()));
    }
    if let Some(f) = &arm.format {
        b.params.push(("format".into(), f.clone()));
    }
    if let Some(seed) = arm.seed {
        b.params.push(("seed".into(), seed.to_string()));
    }
}

/// An answer context as a word, `retrieved` for the default (which arm names leave unsaid).
fn context_word(text: &str) -> String {
    match text.trim_start_matches('@') {
        "" => "retrieved".into(),
        other => other.into(),
    }
}

/// A param's text: strings as they are, lists as space-separated words, the rest as JSON.
fn param_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(param_text).collect::<Vec<_>>().join(" "),
        other => other.to_string(),
    }
}

fn point(key: &str, value: f64, step: u64) -> Point {
    Point {
        key: key.into(),
        value,
        step,
    }
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}
