//! `finefail bench generate`: prefill and decode throughput of a checkpoint and the process's peak
//! memory, through the same generation code the RAG answering uses. Random prompt tokens, greedy,
//! no stop tokens (so every row decodes exactly the requested number of tokens).

use crate::attention_input::AttentionInput;
use crate::cache::KvCache;
use crate::error::{ModelError, Result};
use crate::generate::{generate, GenerationConfig};
use crate::llama::Llama;
use crate::precision::Precision;
use crate::sampling::SamplingConfig;
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

/// What to measure.
#[derive(Debug, Clone)]
pub struct GenerateBenchOptions {
    /// Hugging Face checkpoint directory.
    pub model_dir: PathBuf,
    /// Sequences decoded together.
    pub batch: usize,
    /// Prompt tokens per sequence.
    pub prompt_len: usize,
    /// Tokens generated per sequence.
    pub new_tokens: usize,
    /// Device to run on.
    pub device: Device,
    /// How the frozen weights are stored (resolved: no `auto`).
    pub precision: Precision,
}

/// What was measured.
#[derive(Debug, Clone, Serialize)]
pub struct GenerateBenchReport {
    /// Sequences.
    pub batch: usize,
    /// Prompt tokens per sequence.
    pub prompt_len: usize,
    /// Generated tokens per sequence.
    pub new_tokens: usize,
    /// How the weights were stored, e.g. "bf16" or "f32 + nf4".
    pub precision: String,
    /// Checkpoint load seconds.
    pub load_s: f64,
    /// Prompt tokens per second (best of two prefills, logits at the last position only).
    pub prefill_tokens_per_s: f64,
    /// Generated tokens per second over all rows, after the first token.
    pub decode_tokens_per_s: f64,
    /// Peak resident memory of the process, MB.
    pub peak_rss_mb: f64,
}

/// Peak resident memory of this process (VmHWM), MB; NaN where /proc is unavailable.
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Runs the benchmark.
pub fn generate_bench(opts: &GenerateBenchOptions) -> Result<GenerateBenchReport> {
    if opts.batch == 0 || opts.prompt_len == 0 || opts.new_tokens < 2 {
        return Err(ModelError::bad_input(
            "bench generate",
            "needs --batch ≥ 1, --prompt-len ≥ 1 and --new-tokens ≥ 2",
        ));
    }
    let device = &opts.device;
    let t0 = Instant::now();
    let model = Llama::load_with(&opts.model_dir, device, opts.precision)?;
    let load_s = t0.elapsed().as_secs_f64();
    let vocab = model.config().vocab_size as u64;
    let mut x = 12_345u64;
    let prompts: Vec<Vec<u32>> = (0..opts.batch)
        .map(|_| {
            (0..opts.prompt_len)
                .map(|_| {
                    x = x
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    ((x >> 33) % vocab) as u32
                })
                .collect()
        })
        .collect();
    let (b, p) = (opts.batch, opts.prompt_len);

    let mut prefill = f64::INFINITY;
    for _ in 0..2 {
        let ids: Vec<i64> = prompts.iter().flatten().map(|&i| i64::from(i)).collect();
        let tokens = Tensor::<2, Int>::from_data(TensorData::new(ids, [b, p]), device);
        let mut cache = KvCache::new(model.config(), b, p + 1, device);
        let input = AttentionInput::causal(p, 0, device);
        let t = Instant::now();
        let logits = model.forward_last(tokens, &input, Some(&mut cache));
        let _ = logits.into_data();
        prefill = prefill.min(t.elapsed().as_secs_f64());
    }

    let cfg = |n| GenerationConfig {
        max_new_tokens: n,
        sampling: SamplingConfig {
            temperature: 0.0,
            top_p: 1.0,
            seed: 0,
        },
        eos_token_ids: vec![],
        stop_strings: vec![],
        use_cache: true,
    };
    let no_text = |_: &[u32]| Ok(String::new());
    let t = Instant::now();
    generate(&model, &prompts, &cfg(1), &no_text)?;
    let first = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let out = generate(&model, &prompts, &cfg(opts.new_tokens), &no_text)?;
    let total = t.elapsed().as_secs_f64();
    let after_first: usize = out.iter().map(|g| g.tokens.len().saturating_sub(1)).sum();
    Ok(GenerateBenchReport {
        batch: b,
        prompt_len: p,
        new_tokens: opts.new_tokens,
        precision: opts.precision.to_string(),
        load_s,
        prefill_tokens_per_s: (b * p) as f64 / prefill,
        decode_tokens_per_s: after_first as f64 / (total - first).max(1e-9),
        peak_rss_mb: peak_rss_mb(),
    })
}
