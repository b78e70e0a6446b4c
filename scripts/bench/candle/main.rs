//! candle peer for `make bench`: loads the HF-layout safetensors with
//! candle_transformers::models::llama, times a prefill of B × P random tokens and T greedy decode
//! steps with candle's KV cache, and writes one JSON object (same shape as `finefail bench generate`).
//!
//! usage: candle-bench --model DIR [--batch B] [--prompt-len P] [--new-tokens T] [--seed S] [--json FILE]
use candle_core::{DType, Device, Tensor, D};
use candle_nn::VarBuilder;
use candle_transformers::models::llama::{Cache, Llama, LlamaConfig};
use std::time::Instant;

struct Args {
    model: String,
    batch: usize,
    prompt_len: usize,
    new_tokens: usize,
    seed: u64,
    json: Option<String>,
}

fn parse_args() -> Args {
    let mut a = Args { model: String::new(), batch: 1, prompt_len: 512, new_tokens: 64, seed: 0, json: None };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| die(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--model" => a.model = val(),
            "--batch" => a.batch = val().parse().unwrap_or_else(|_| die("--batch: not a number")),
            "--prompt-len" => a.prompt_len = val().parse().unwrap_or_else(|_| die("--prompt-len: not a number")),
            "--new-tokens" => a.new_tokens = val().parse().unwrap_or_else(|_| die("--new-tokens: not a number")),
            "--seed" => a.seed = val().parse().unwrap_or_else(|_| die("--seed: not a number")),
            "--json" => a.json = Some(val()),
            _ => die(&format!("unknown argument {flag}")),
        }
    }
    if a.model.is_empty() {
        die("--model DIR is required");
    }
    a
}

fn die(msg: &str) -> ! {
    eprintln!("candle-bench: {msg}");
    std::process::exit(2)
}

/// Peak resident set size in MB (VmHWM), the same quantity as getrusage's ru_maxrss.
fn peak_rss_mb() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Seeded random token ids (splitmix64): no rand dependency, same ids for the same seed.
fn random_tokens(n: usize, vocab: usize, seed: u64) -> Vec<u32> {
    let mut x = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    (0..n)
        .map(|_| {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) % vocab as u64) as u32
        })
        .collect()
}

/// One run: prefill `prompt` (B × P) then `new_tokens` greedy steps; returns (prefill s, decode s).
fn run(model: &Llama, cfg: &candle_transformers::models::llama::Config, dev: &Device, prompt: &Tensor,
       new_tokens: usize) -> candle_core::Result<(f64, f64)> {
    let (_, p) = prompt.dims2()?;
    let mut cache = Cache::new(true, DType::F32, cfg, dev)?;
    let t0 = Instant::now();
    let logits = model.forward(prompt, 0, &mut cache)?; // (B, vocab), last position only
    let mut next = logits.argmax_keepdim(D::Minus1)?; // (B, 1)
    let prefill = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    for i in 0..new_tokens {
        let logits = model.forward(&next, p + i, &mut cache)?;
        next = logits.argmax_keepdim(D::Minus1)?;
    }
    let _ = next.to_vec2::<u32>()?; // force the last step
    Ok((prefill, t1.elapsed().as_secs_f64()))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = parse_args();
    let dev = Device::Cpu;
    let cfg: LlamaConfig = serde_json::from_slice(&std::fs::read(format!("{}/config.json", a.model))?)?;
    let cfg = cfg.into_config(false);
    let weights = format!("{}/model.safetensors", a.model);
    // candle's usual loader: the file is mmapped, the f32 weights are used in place.
    let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[weights], DType::F32, &dev)? };
    let model = Llama::load(vb, &cfg)?;

    let ids = random_tokens(a.batch * a.prompt_len, cfg.vocab_size, a.seed);
    let prompt = Tensor::from_vec(ids, (a.batch, a.prompt_len), &dev)?;
    // Warm-up (small prefill + 2 steps): page in the weights and start the thread pool, so the timed
    // run measures steady state as the other benchmarks do.
    let wp = a.prompt_len.min(16);
    run(&model, &cfg, &dev, &prompt.narrow(1, 0, wp)?, 2)?;
    let (prefill_s, decode_s) = run(&model, &cfg, &dev, &prompt, a.new_tokens)?;

    let out = serde_json::json!({
        "peer": "candle",
        "batch": a.batch,
        "prompt_len": a.prompt_len,
        "new_tokens": a.new_tokens,
        "prefill_tokens_per_s": (a.batch * a.prompt_len) as f64 / prefill_s,
        "decode_tokens_per_s": (a.batch * a.new_tokens) as f64 / decode_s,
        "peak_rss_mb": peak_rss_mb(),
        "threads": candle_core::utils::get_num_threads(),
        "note": format!("candle {} f32, mmapped safetensors, KV cache", "0.11.1"),
    });
    let text = serde_json::to_string(&out)?;
    println!("{text}");
    if let Some(path) = a.json {
        std::fs::write(path, text + "\n")?;
    }
    Ok(())
}
