//! One LoRA training step (forward, next-token cross-entropy over every position, backward, AdamW)
//! on a checkpoint with plain burn ops: tokens/s and peak resident memory. Not a test.
//!
//! `cargo run -p finefail-model --example bench_train_step -- DIR BATCH SEQ STEPS`

use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use finefail_model::llama::Llama;
use finefail_model::lora::LoraConfig;
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
    let (batch, seq, steps) = (arg(2, 8), arg(3, 128), arg(4, 2));
    let device = Device::flex().autodiff();
    let mut model = Llama::load(&dir, &device).expect("load");
    let lora = LoraConfig {
        r: 16,
        alpha: 32.0,
        dropout: 0.05,
        targets: ["q_proj", "k_proj", "v_proj", "o_proj"]
            .map(String::from)
            .to_vec(),
        seed: 0,
    };
    model.attach_lora(&lora).expect("lora");
    let vocab = model.config.vocab_size;
    let mut x = 7u64;
    let mut next = || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((x >> 33) % vocab as u64) as i64
    };
    let ids: Vec<i64> = (0..batch * (seq + 1)).map(|_| next()).collect();
    let mut optim = AdamWConfig::new()
        .with_epsilon(1e-8)
        .with_weight_decay(0.0)
        .init();
    for step in 0..steps {
        let t = Instant::now();
        let all =
            Tensor::<2, Int>::from_data(TensorData::new(ids.clone(), [batch, seq + 1]), &device);
        let inputs = all.clone().narrow(1, 0, seq);
        let targets = all.narrow(1, 1, seq).reshape([batch * seq, 1]);
        let logits = model.forward(inputs).reshape([batch * seq, vocab]);
        let loss = log_softmax(logits, 1).gather(1, targets).mean().neg();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-4, model, grads);
        let s = t.elapsed().as_secs_f64();
        println!(
            "step {step}: {s:.2} s, {:.0} tok/s, peak rss {:.0} MB",
            (batch * seq) as f64 / s,
            peak_rss_mb()
        );
    }
}
