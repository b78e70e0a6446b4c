//! Inference throughput of a checkpoint on the CPU: prefill and decode tokens/s at a given batch size,
//! and the process's peak resident memory. Not a test; numbers go to docs/performance.md.
//!
//! `cargo run --release -p finefail-model --example bench_inference -- DIR BATCH PROMPT_LEN NEW_TOKENS`

use burn::tensor::{Device, Int, Tensor, TensorData};
use finefail_model::cache::KvCache;
use finefail_model::generate::{generate, GenerationConfig};
use finefail_model::llama::{AttentionInput, Llama};
use finefail_model::sampling::SamplingConfig;
use std::path::PathBuf;
use std::time::Instant;

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = PathBuf::from(
        args.get(1)
            .map_or("checkpoints/smollm2-135m-instruct", String::as_str),
    );
    let arg = |i: usize, d: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (batch, prompt_len, new_tokens) = (arg(2, 1), arg(3, 512), arg(4, 64));
    let device = Device::flex();
    let t0 = Instant::now();
    let model = Llama::load(&dir, &device).expect("load");
    println!(
        "load: {:.2} s, rss after load {:.0} MB",
        t0.elapsed().as_secs_f64(),
        peak_rss_mb()
    );
    let vocab = model.config.vocab_size as u64;
    let mut x = 12345u64;
    let mut next = || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((x >> 33) % vocab) as u32
    };
    let prompts: Vec<Vec<u32>> = (0..batch)
        .map(|_| (0..prompt_len).map(|_| next()).collect())
        .collect();

    // Prefill: logits at the last position only, filling a KV cache (best of 3).
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let ids: Vec<i64> = prompts.iter().flatten().map(|&i| i64::from(i)).collect();
        let tokens =
            Tensor::<2, Int>::from_data(TensorData::new(ids, [batch, prompt_len]), &device);
        let mut cache = KvCache::new(&model.config, batch, prompt_len + 1, &device);
        let input = AttentionInput::causal(prompt_len, 0, &device);
        let t = Instant::now();
        let logits = model.forward_last(tokens, &input, Some(&mut cache));
        let _ = logits.into_data();
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "prefill {batch}x{prompt_len}: {:.0} tok/s ({best:.3} s)",
        (batch * prompt_len) as f64 / best
    );

    // Decode: greedy generation of `new_tokens` after a 32-token prompt, minus the prefill time.
    let short: Vec<Vec<u32>> = prompts
        .iter()
        .map(|p| p[..32.min(p.len())].to_vec())
        .collect();
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
    let decode = |_: &[u32]| Ok(String::new());
    let t = Instant::now();
    let _ = generate(&model, &short, &cfg(1), &decode).expect("generate");
    let prefill_only = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let out = generate(&model, &short, &cfg(new_tokens), &decode).expect("generate");
    let total = t.elapsed().as_secs_f64();
    let produced: usize = out.iter().map(|g| g.tokens.len()).sum();
    let decode_s = (total - prefill_only).max(1e-9);
    println!(
        "decode batch {batch}: {:.1} tok/s ({} tokens after the first, {decode_s:.2} s)",
        (produced - batch) as f64 / decode_s,
        produced - batch
    );
    println!("peak rss: {:.0} MB", peak_rss_mb());
}
