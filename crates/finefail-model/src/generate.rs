//! Batched text generation: left-padded prompts with an attention mask, a KV cache, greedy or sampled
//! decoding, stopping on end-of-sequence tokens, stop strings or the token budget.
//!
//! Each row has its own sampler seeded with the same seed, and padding changes neither its positions
//! nor what it attends to, so a prompt gets the same answer alone or in a batch (tested).
//!
//! [`generate_scoring_first`] also reads, from the logits the first step computes anyway, the
//! log-probability of a few given first tokens per prompt: one-token continuations (a label
//! question's `yes` / `No` / …) are scored at no cost beyond the generation.

use crate::attention_input::AttentionInput;
use crate::cache::KvCache;
use crate::continuations::log_sum_exp;
use crate::error::{ModelError, Result};
use crate::llama::Llama;
use crate::sampling::{Sampler, SamplingConfig};
use crate::weights::tensor_values;
use burn::tensor::{Int, Tensor, TensorData};

/// What to generate and when to stop.
#[derive(Debug, Clone)]
pub struct GenerationConfig {
    /// Upper bound on generated tokens per prompt.
    pub max_new_tokens: usize,
    /// Temperature, top-p and seed (temperature 0 = greedy).
    pub sampling: SamplingConfig,
    /// Token ids that end a sequence (not included in the answer).
    pub eos_token_ids: Vec<u32>,
    /// Strings that end a sequence when they appear in the decoded answer (cut off, not included).
    pub stop_strings: Vec<String>,
    /// Use the KV cache (true in practice; false recomputes the whole sequence every step, for tests).
    pub use_cache: bool,
}

/// Why a sequence stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// An end-of-sequence token was produced.
    Eos,
    /// A stop string appeared in the text.
    StopString,
    /// `max_new_tokens` were generated.
    MaxTokens,
}

/// One generated answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    /// Generated token ids (without the end-of-sequence token).
    pub tokens: Vec<u32>,
    /// The decoded answer, cut before the first stop string.
    pub text: String,
    /// Why generation ended.
    pub stop: StopReason,
}

/// Generates an answer for each prompt (token ids, chat template already applied), in one batch.
///
/// `decode` turns generated ids into text (the tokenizer's decode, special tokens skipped); it is only
/// called when there are stop strings and for the final text.
pub fn generate(
    model: &Llama,
    prompts: &[Vec<u32>],
    config: &GenerationConfig,
    decode: &(dyn Fn(&[u32]) -> Result<String> + Sync),
) -> Result<Vec<Generation>> {
    generate_scoring_first(model, prompts, config, decode, &[]).map(|(g, _)| g)
}

/// [`generate`], plus for each prompt `r` the log-probability (natural log, log-softmax in f64)
/// of each id in `first_tokens[r]` as the answer's first token, read from the first step's logits
/// (the same numbers [`crate::continuations::continuation_log_probs_cached`] reads from a pass of
/// its own). `first_tokens` is empty (nothing scored) or has one list per prompt.
pub fn generate_scoring_first(
    model: &Llama,
    prompts: &[Vec<u32>],
    config: &GenerationConfig,
    decode: &(dyn Fn(&[u32]) -> Result<String> + Sync),
    first_tokens: &[Vec<u32>],
) -> Result<(Vec<Generation>, Vec<Vec<f64>>)> {
    if !first_tokens.is_empty() && first_tokens.len() != prompts.len() {
        return Err(ModelError::bad_input(
            "first tokens",
            format!(
                "{} lists of first tokens for {} prompts",
                first_tokens.len(),
                prompts.len()
            ),
        ));
    }
    within_vocabulary(model, first_tokens.iter().flatten(), "first tokens")?;
    // Run the whole generation on a worker of the thread pool: every kernel of a decode step then
    // forks from inside the pool instead of waking it from outside and sleeping this thread.
    rayon::scope(|_| generate_on_pool(model, prompts, config, decode, first_tokens))
}

fn generate_on_pool(
    model: &Llama,
    prompts: &[Vec<u32>],
    config: &GenerationConfig,
    decode: &(dyn Fn(&[u32]) -> Result<String> + Sync),
    first_tokens: &[Vec<u32>],
) -> Result<(Vec<Generation>, Vec<Vec<f64>>)> {
    if prompts.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let vocab = model.config().vocab_size;
    if let Some(i) = prompts.iter().position(Vec::is_empty) {
        return Err(ModelError::bad_input(
            "prompt",
            format!("prompt {i} has no tokens"),
        ));
    }
    within_vocabulary(model, prompts.iter().flatten(), "prompt")?;
    let device = model.device();
    let b = prompts.len();
    let longest = prompts.iter().map(Vec::len).max().unwrap_or(0);
    let mut valid: Vec<Vec<bool>> = prompts
        .iter()
        .map(|p| (0..longest).map(|j| j >= longest - p.len()).collect())
        .collect();
    // Every token of every row so far, left-padded with id 0 (masked out).
    let mut seqs: Vec<Vec<u32>> = prompts
        .iter()
        .map(|p| {
            std::iter::repeat_n(0, longest - p.len())
                .chain(p.iter().copied())
                .collect()
        })
        .collect();
    let mut cache = config
        .use_cache
        .then(|| KvCache::new(model.config(), b, longest + config.max_new_tokens, &device));
    let mut samplers: Vec<Sampler> = (0..b).map(|_| Sampler::new(config.sampling)).collect();
    let mut out: Vec<Option<Generation>> = vec![None; b];
    let mut answers: Vec<Vec<u32>> = vec![Vec::new(); b];

    let mut logits = step(model, &seqs, &valid, longest, cache.as_mut())?;
    let scores: Vec<Vec<f64>> = first_tokens
        .iter()
        .enumerate()
        .map(|(r, ids)| {
            let row = &logits[r * vocab..(r + 1) * vocab];
            let lse = log_sum_exp(row);
            ids.iter()
                .map(|&id| f64::from(row[id as usize]) - lse)
                .collect()
        })
        .collect();
    for n in 0..config.max_new_tokens {
        let mut next = vec![0u32; b];
        for r in 0..b {
            if out[r].is_some() {
                continue;
            }
            let id = samplers[r].sample(&logits[r * vocab..(r + 1) * vocab]);
            next[r] = id;
            if config.eos_token_ids.contains(&id) {
                out[r] = Some(finish(&answers[r], StopReason::Eos, config, decode)?);
                continue;
            }
            answers[r].push(id);
            if !config.stop_strings.is_empty() {
                let text = decode(&answers[r])?;
                if config
                    .stop_strings
                    .iter()
                    .any(|s| text.contains(s.as_str()))
                {
                    out[r] = Some(finish(&answers[r], StopReason::StopString, config, decode)?);
                    continue;
                }
            }
            if n + 1 == config.max_new_tokens {
                out[r] = Some(finish(&answers[r], StopReason::MaxTokens, config, decode)?);
            }
        }
        if out.iter().all(Option::is_some) {
            break;
        }
        for r in 0..b {
            seqs[r].push(next[r]);
            valid[r].push(true);
        }
        logits = step(model, &seqs, &valid, 1, cache.as_mut())?;
    }
    let generations = out
        .into_iter()
        .zip(answers)
        .map(|(g, a)| match g {
            Some(g) => Ok(g),
            None => finish(&a, StopReason::MaxTokens, config, decode),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((generations, scores))
}

/// Bad input (named `what`) when one of `ids` is outside `model`'s vocabulary: it would index past
/// the embedding or the logits.
pub(crate) fn within_vocabulary<'a>(
    model: &Llama,
    ids: impl IntoIterator<Item = &'a u32>,
    what: &str,
) -> Result<()> {
    let vocab = model.config().vocab_size;
    match ids.into_iter().find(|&&id| id as usize >= vocab) {
        Some(id) => Err(ModelError::bad_input(
            what,
            format!("token id {id} is outside the vocabulary ({vocab})"),
        )),
        None => Ok(()),
    }
}

/// Runs the model on the last `t` tokens of each row (all of them without a cache) and returns the
/// next-token logits, `[b × vocab]` on the host.
fn step(
    model: &Llama,
    seqs: &[Vec<u32>],
    valid: &[Vec<bool>],
    t: usize,
    cache: Option<&mut KvCache>,
) -> Result<Vec<f32>> {
    let device = model.device();
    let b = seqs.len();
    let len = seqs[0].len();
    let t = if cache.is_some() { t } else { len };
    let ids: Vec<i64> = seqs
        .iter()
        .flat_map(|s| s[len - t..].iter().map(|&x| i64::from(x)))
        .collect();
    let tokens = Tensor::<2, Int>::from_data(TensorData::new(ids, [b, t]), &device);
    let input = AttentionInput::padded(valid, t, &device);
    tensor_values(model.forward_last(tokens, &input, cache))
}

/// Builds the final answer: decoded text, cut before the first stop string.
fn finish(
    tokens: &[u32],
    stop: StopReason,
    config: &GenerationConfig,
    decode: &dyn Fn(&[u32]) -> Result<String>,
) -> Result<Generation> {
    let mut text = decode(tokens)?;
    if let Some(cut) = config
        .stop_strings
        .iter()
        .filter_map(|s| text.find(s.as_str()))
        .min()
    {
        text.truncate(cut);
    }
    Ok(Generation {
        tokens: tokens.to_vec(),
        text,
        stop,
    })
}
