//! The memory plan of a whole experiment (`finefail run --plan`): for every local model, the
//! estimated peak of its fine-tune and answer steps with the configured shapes, compared with the
//! memory the device has (`device_memory_gb`, else this machine's RAM on a CPU device).

use crate::config::{Config, LocalModel};
use finefail_model::config::ModelConfig;
use finefail_model::device::DeviceSpec;
use finefail_model::memory::{estimate, gb, Kernels, MemoryEstimate, Workload};

/// Prompt tokens an answer step is planned for: the RAG prompt (top-k chunks of up to ~250
/// tokens each, the question, the template) rarely exceeds it.
pub const PLANNED_PROMPT_TOKENS: usize = 1024;

/// One planned step kind of one model.
#[derive(Debug, Clone)]
pub struct MemoryLine {
    /// `[[models]]` name.
    pub model: String,
    /// `finetune` or `answer`.
    pub step: &'static str,
    /// How the base is stored, e.g. `bf16 (nf4)`.
    pub precision: String,
    /// The estimate.
    pub estimate: MemoryEstimate,
    /// Whether it fits the device's memory (`None` when that is unknown).
    pub fits: Option<bool>,
}

/// The plan's lines, and the models it could not plan (no readable `config.json` at the path or
/// in `model_config`), with why.
pub fn memory_plan(c: &Config) -> (Vec<MemoryLine>, Vec<String>) {
    let (mut lines, mut skipped) = (Vec::new(), Vec::new());
    let Ok(spec) = DeviceSpec::parse(&c.device) else {
        return (lines, skipped);
    };
    let gpu = matches!(spec, DeviceSpec::Cuda(_) | DeviceSpec::TchCuda(_));
    let kernels = Kernels::of(spec);
    let limit =
        c.device_memory_gb
            .map(|g| g * 1e9)
            .or_else(|| if gpu { None } else { machine_memory() });
    for (m, local) in c.models.iter().filter_map(|m| Some((m, m.local_model()?))) {
        let Some(mc) = model_config(local) else {
            skipped.push(format!(
                "model `{}`: no config.json at {} (set `model_config` to plan it before download)",
                m.name,
                local.path.display()
            ));
            continue;
        };
        let Ok(p) = local
            .precision()
            .resolve(spec, mc.torch_dtype.as_deref().and_then(dtype_of))
        else {
            continue;
        };
        let t = &c.train;
        let micro = t.micro_batch_size.unwrap_or(t.batch_size).min(t.batch_size);
        let train = Workload::Train {
            micro_batch: micro,
            seq_len: t.max_seq_len,
            r: c.lora.r,
            targets: c.lora.targets.len(),
            checkpointing: t.gradient_checkpointing,
        };
        let answer = Workload::Answer {
            batch: c.generation.batch_size,
            prompt_len: PLANNED_PROMPT_TOKENS,
            new_tokens: c.generation.max_new_tokens,
        };
        let trains = c.sweep.sizes.iter().any(|&n| n > 0);
        for (step, work) in [("finetune", train), ("answer", answer)] {
            if step == "finetune" && !trains {
                continue;
            }
            let e = estimate(&mc, p, work, kernels, gpu);
            lines.push(MemoryLine {
                model: m.name.clone(),
                step,
                precision: p.to_string(),
                fits: limit.map(|l| e.total() <= l),
                estimate: e,
            });
        }
    }
    (lines, skipped)
}

/// A line for the plan's output.
pub fn describe(line: &MemoryLine, limit_gb: Option<f64>) -> String {
    let verdict = match (line.fits, limit_gb) {
        (Some(true), Some(l)) => format!("fits in {l:.0} GB"),
        (Some(true), None) => "fits".into(),
        (Some(false), Some(l)) => format!("DOES NOT FIT in {l:.0} GB"),
        (Some(false), None) => "DOES NOT FIT".into(),
        (None, _) => "device memory unknown (set device_memory_gb)".into(),
    };
    format!(
        "{} {} [{}]: ~{} — {verdict}; {}",
        line.model,
        line.step,
        line.precision,
        gb(line.estimate.total()),
        line.estimate
    )
}

/// The checkpoint's `config.json`, else the one `model_config` names.
fn model_config(m: &LocalModel) -> Option<ModelConfig> {
    ModelConfig::from_dir(&m.path).ok().or_else(|| {
        let path = m.model_config.as_ref()?;
        let text = std::fs::read_to_string(path).ok()?;
        ModelConfig::from_json_str(&text, path).ok()
    })
}

fn dtype_of(torch_dtype: &str) -> Option<finefail_model::precision::WeightDtype> {
    finefail_model::precision::WeightDtype::parse(torch_dtype).ok()
}

/// Total RAM of this machine (`/proc/meminfo`), bytes.
fn machine_memory() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: f64 = text
        .lines()
        .find(|l| l.starts_with("MemTotal:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024.0)
}
