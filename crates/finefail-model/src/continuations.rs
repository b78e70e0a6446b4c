//! Log-probabilities of several short continuations of one prompt, for scoring answers by
//! likelihood (label questions: yes / no / maybe, each in two spellings): the prompt runs once and
//! its keys and values stay in a KV cache; each continuation then runs only its own tokens after a
//! copy of that cache.
//!
//! ```text
//! h            = Llama(prompt)                        one pass, keys/values cached
//! log p(c₀)    = log_softmax(RMSNorm(h_last) · W_out)[c₀]          shared by every continuation
//! log p(cⱼ)    = log_softmax(RMSNorm(h'_{j−1}) · W_out)[cⱼ]        h' = Llama(c₀ … c_{m−2} | cache)
//! score(c)     = Σⱼ log p(cⱼ | prompt, c<j)           natural log, log-softmax in f64
//! ```
//!
//! A one-token continuation costs nothing beyond the prompt pass; an m-token one an (m − 1)-token
//! pass. Scoring every continuation with its own full pass (finefail-rag's
//! `label_likelihood::continuation_log_probs`, the proven reference) costs one prompt pass per
//! continuation; the two agree up to float rounding (tested in finefail-rag).

use crate::attention_input::AttentionInput;
use crate::cache::KvCache;
use crate::error::{ModelError, Result};
use crate::llama::Llama;
use crate::weights::tensor_values;
use burn::tensor::{Int, Tensor, TensorData};

/// Summed log-probability (natural log) of each continuation after `prompt`, the prompt run once
/// (see the module doc). Bad input: an empty prompt or continuation, a token outside the
/// vocabulary, or prompt + longest continuation longer than the model's window.
pub fn continuation_log_probs_cached(
    model: &Llama,
    prompt: &[u32],
    continuations: &[Vec<u32>],
) -> Result<Vec<f64>> {
    let bad = |m: String| ModelError::bad_input("tokens", m);
    if prompt.is_empty() {
        return Err(bad("continuation scoring needs a non-empty prompt".into()));
    }
    if continuations.is_empty() || continuations.iter().any(Vec::is_empty) {
        return Err(bad(
            "continuation scoring needs at least one continuation, none of them empty".into(),
        ));
    }
    crate::generate::within_vocabulary(
        model,
        prompt.iter().chain(continuations.iter().flatten()),
        "tokens",
    )?;
    let longest = continuations.iter().map(Vec::len).max().unwrap_or(0);
    let window = model.config().max_position_embeddings;
    if prompt.len() + longest > window {
        return Err(bad(format!(
            "prompt ({} tokens) + continuation ({longest} tokens) exceeds the model's window ({window})",
            prompt.len()
        )));
    }
    // On a worker of the thread pool, as generation runs: kernels fork from inside the pool.
    rayon::scope(|_| score_on_pool(model, prompt, continuations, longest))
}

fn score_on_pool(
    model: &Llama,
    prompt: &[u32],
    continuations: &[Vec<u32>],
    longest: usize,
) -> Result<Vec<f64>> {
    let device = model.device();
    let p = prompt.len();
    let mut cache = KvCache::new(model.config(), 1, p + longest - 1, &device);
    let hidden = model.forward_hidden_cached(
        ids_tensor(prompt, &device),
        &AttentionInput::causal(p, 0, &device),
        Some(&mut cache),
    );
    let first = head_rows(model, hidden.narrow(1, p - 1, 1))?;
    let first_lse = log_sum_exp(&first);
    let vocab = model.config().vocab_size;
    let mut out = Vec::with_capacity(continuations.len());
    for c in continuations {
        let mut sum = f64::from(first[c[0] as usize]) - first_lse;
        if c.len() > 1 {
            let t = c.len() - 1;
            let mut after = cache.clone();
            let hidden = model.forward_hidden_cached(
                ids_tensor(&c[..t], &device),
                &AttentionInput::causal(t, p, &device),
                Some(&mut after),
            );
            let rows = head_rows(model, hidden)?;
            for (j, &tok) in c[1..].iter().enumerate() {
                let row = &rows[j * vocab..(j + 1) * vocab];
                sum += f64::from(row[tok as usize]) - log_sum_exp(row);
            }
        }
        out.push(sum);
    }
    Ok(out)
}

/// One row of ids `[1, t]` on `device`.
fn ids_tensor(ids: &[u32], device: &burn::tensor::Device) -> Tensor<2, Int> {
    let row: Vec<i64> = ids.iter().map(|&i| i64::from(i)).collect();
    Tensor::from_data(TensorData::new(row, [1, ids.len()]), device)
}

/// Logits of final-norm hidden states `[1, t, d]`, on the host, row-major `[t × vocab]`.
fn head_rows(model: &Llama, hidden: Tensor<3>) -> Result<Vec<f32>> {
    let [_, t, d] = hidden.dims();
    tensor_values(hidden.reshape([t, d]).matmul(model.output_weight()))
}

/// `log Σ exp(row)` in f64, max-shifted so large logits stay exact (also what generation's
/// first-step scores use, so both paths normalise alike).
pub(crate) fn log_sum_exp(row: &[f32]) -> f64 {
    let max = row
        .iter()
        .fold(f64::NEG_INFINITY, |m, &x| m.max(f64::from(x)));
    max + row
        .iter()
        .map(|&x| (f64::from(x) - max).exp())
        .sum::<f64>()
        .ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_sum_exp_is_exact_for_large_logits() {
        let row = [1000.0f32, 1000.0, 1000.0, 1000.0];
        assert!((log_sum_exp(&row) - (1000.0 + 4f64.ln())).abs() < 1e-9);
    }
}
