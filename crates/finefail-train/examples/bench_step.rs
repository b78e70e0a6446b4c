//! Training-throughput benchmark (not a test): LoRA steps on the default model at a fixed shape.
//!
//! `cargo run --release -p finefail-train --example bench_step -- MODEL_DIR [SEQ] [BATCH] [MICRO] [STEPS]`
//! Each step: BATCH examples of SEQ tokens (the last quarter are answer tokens), split into
//! micro-batches of MICRO, forward + backward + global clipping + AdamW, exactly as the recipe does.
//! Prints tokens/s per step and the peak RSS (VmHWM).

use burn::tensor::Device;
use finefail_model::llama::Llama;
use finefail_train::adamw::{clip_global_norm, AdamWParams, AdamWState};
use finefail_train::examples::Example;
use finefail_train::loss::micro_loss;
use finefail_train::{adapter, FinetuneSettings};
use std::time::Instant;

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_string)
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(
        args.get(1)
            .ok_or("usage: bench_step MODEL_DIR [SEQ] [BATCH] [MICRO] [STEPS]")?,
    );
    let num = |i: usize, d: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (seq, batch, micro, steps) = (num(2, 512), num(3, 8), num(4, 8), num(5, 2));
    let dev = Device::flex().autodiff();
    let t = Instant::now();
    let mut model = Llama::load(&dir, &dev)?;
    let settings = FinetuneSettings::default();
    model.attach_lora(&settings.lora_config(0))?;
    println!(
        "load {:.1}s, rss {:.0} MB",
        t.elapsed().as_secs_f64(),
        peak_rss_mb()
    );
    let vocab = model.config().vocab_size as u32;
    let exs: Vec<Example> = (0..batch)
        .map(|b| Example {
            id: format!("{b}"),
            tokens: (0..seq)
                .map(|i| ((i * 7919 + b * 104_729) as u32) % vocab)
                .collect(),
            prompt_len: seq * 3 / 4,
        })
        .collect();
    let refs: Vec<&Example> = exs.iter().collect();
    let answer_tokens: usize = exs.iter().map(Example::answer_len).sum();
    let hp = AdamWParams {
        betas: [0.9, 0.999],
        eps: 1e-8,
        weight_decay: 0.0,
    };
    let mut adam = AdamWState::default();
    for step in 0..steps {
        let t0 = Instant::now();
        let mut acc: Option<std::collections::BTreeMap<String, Vec<f32>>> = None;
        let mut loss = 0.0;
        for (mi, mb) in refs.chunks(micro).enumerate() {
            dev.seed(finefail_train::batching::micro_step_seed(0, step, mi));
            let l = micro_loss(&model, mb, answer_tokens as f64, 0, &dev);
            loss += f64::from(l.clone().into_scalar::<f32>());
            let g = adapter::gradients(&model, &l.backward())?;
            match acc.as_mut() {
                None => acc = Some(g),
                Some(a) => {
                    for (k, v) in g {
                        if let Some(x) = a.get_mut(&k) {
                            x.iter_mut().zip(v).for_each(|(p, q)| *p += q);
                        }
                    }
                }
            }
        }
        let mut grads = acc.unwrap_or_default();
        let norm = clip_global_norm(&mut grads, 1.0);
        let mut p = adapter::values(&model)?;
        adam.step(&hp, 2e-4, &mut p, &grads);
        adapter::set_values(&mut model, &p, 0.05, &dev)?;
        let dt = t0.elapsed().as_secs_f64();
        println!(
            "step {step}: loss {loss:.4} grad_norm {norm:.3} {:.1}s {:.1} tok/s, peak rss {:.0} MB",
            dt,
            (seq * batch) as f64 / dt,
            peak_rss_mb()
        );
    }
    Ok(())
}
