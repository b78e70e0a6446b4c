//! Generation on the tiny checkpoints: the KV cache gives the same tokens as recomputing the whole
//! sequence; a left-padded batch gives the same tokens as one prompt at a time; stops are honoured.

mod common;

use burn::tensor::Device;
use common::*;
use finefail_model::generate::{generate, GenerationConfig, StopReason};
use finefail_model::llama::Llama;
use finefail_model::sampling::SamplingConfig;

fn prompts() -> Vec<Vec<u32>> {
    vec![
        vec![1, 5, 9, 23, 42, 7],
        vec![1, 17],
        vec![3, 60, 61, 8, 8, 30, 31, 2, 44],
        vec![11],
    ]
}

fn config(max_new_tokens: usize, use_cache: bool, temperature: f32) -> GenerationConfig {
    GenerationConfig {
        max_new_tokens,
        sampling: SamplingConfig {
            temperature,
            top_p: 0.9,
            seed: 5,
        },
        eos_token_ids: vec![],
        stop_strings: vec![],
        use_cache,
    }
}

/// Token ids as text: "<id> <id> …", so stop strings can be tested without a tokenizer.
fn ids_text(ids: &[u32]) -> finefail_model::error::Result<String> {
    Ok(ids.iter().map(|i| format!("<{i}>")).collect())
}

fn run(model: &Llama, prompts: &[Vec<u32>], cfg: &GenerationConfig) -> Vec<Vec<u32>> {
    generate(model, prompts, cfg, &ids_text)
        .unwrap()
        .into_iter()
        .map(|g| g.tokens)
        .collect()
}

#[test]
fn kv_cache_equals_full_recomputation() {
    for name in ["tiny_llama", "tiny_mixtral", "tiny_qwen2"] {
        let model = Llama::load(&fixture(name), &Device::flex()).unwrap();
        let p = prompts();
        let cached = run(&model, &p, &config(10, true, 0.0));
        let full = run(&model, &p, &config(10, false, 0.0));
        assert_eq!(cached, full, "{name}");
        assert!(cached.iter().all(|t| t.len() == 10));
    }
}

#[test]
fn batched_equals_one_by_one_greedy_and_sampled() {
    for name in ["tiny_llama", "tiny_mixtral"] {
        let model = Llama::load(&fixture(name), &Device::flex()).unwrap();
        let p = prompts();
        for temperature in [0.0, 1.0] {
            let cfg = config(10, true, temperature);
            let batched = run(&model, &p, &cfg);
            let single: Vec<Vec<u32>> = p
                .iter()
                .map(|q| run(&model, std::slice::from_ref(q), &cfg)[0].clone())
                .collect();
            assert_eq!(batched, single, "{name} at temperature {temperature}");
        }
    }
}

#[test]
fn greedy_first_token_is_reference_argmax() {
    let model = Llama::load(&fixture("tiny_llama"), &Device::flex()).unwrap();
    let r = reference("tiny_llama");
    let tokens = ref_tokens(&r);
    let logits = ref_logits(&r);
    let vocab = model.config().vocab_size;
    let last = &logits[(tokens.len() - 1) * vocab..];
    let want = (0..vocab)
        .max_by(|&a, &b| last[a].total_cmp(&last[b]))
        .unwrap() as u32;
    let got = run(&model, &[tokens], &config(1, true, 0.0));
    assert_eq!(got, vec![vec![want]]);
}

#[test]
fn stops_on_eos_and_stop_strings() {
    let model = Llama::load(&fixture("tiny_llama"), &Device::flex()).unwrap();
    let p = vec![prompts()[0].clone()];
    let free = run(&model, &p, &config(6, true, 0.0))[0].clone();
    // The third generated token as end-of-sequence: generation ends before it.
    let mut cfg = config(6, true, 0.0);
    cfg.eos_token_ids = vec![free[2]];
    let g = generate(&model, &p, &cfg, &ids_text).unwrap().remove(0);
    let first_eos = free.iter().position(|&t| t == free[2]).unwrap();
    assert_eq!(g.tokens, free[..first_eos]);
    assert_eq!(g.stop, StopReason::Eos);
    // The second token's text as a stop string: the answer is cut before it.
    let mut cfg = config(6, true, 0.0);
    cfg.stop_strings = vec![format!("<{}>", free[1])];
    let g = generate(&model, &p, &cfg, &ids_text).unwrap().remove(0);
    assert_eq!(g.stop, StopReason::StopString);
    assert_eq!(
        g.text,
        ids_text(&free[..free.iter().position(|&t| t == free[1]).unwrap()]).unwrap()
    );
    let g = generate(&model, &p, &config(6, true, 0.0), &ids_text)
        .unwrap()
        .remove(0);
    assert_eq!(g.stop, StopReason::MaxTokens);
    assert_eq!(g.tokens.len(), 6);
}

#[test]
fn bad_prompts_are_bad_input() {
    let model = Llama::load(&fixture("tiny_llama"), &Device::flex()).unwrap();
    let err = generate(&model, &[vec![]], &config(2, true, 0.0), &ids_text).unwrap_err();
    assert!(err.is_bad_input());
    let err = generate(&model, &[vec![64]], &config(2, true, 0.0), &ids_text).unwrap_err();
    assert!(err.is_bad_input() && err.to_string().contains("64"));
}

/// The first-step scores of a left-padded batch ([`generate_scoring_first`]) are the one-token
/// continuation log-probabilities a pass of each prompt's own gives
/// (`continuation_log_probs_cached`, itself checked against the full-pass reference in
/// finefail-rag) up to float rounding; the generations are `generate`'s; a prompt given no tokens
/// gets no scores; bad lists are bad input.
#[test]
fn first_step_scores_equal_a_pass_of_each_prompt_s_own() {
    use finefail_model::continuations::continuation_log_probs_cached;
    use finefail_model::generate::generate_scoring_first;
    for name in ["tiny_llama", "tiny_mixtral", "tiny_qwen2"] {
        let model = Llama::load(&fixture(name), &Device::flex()).unwrap();
        let p = prompts();
        let wanted: Vec<Vec<u32>> = vec![vec![4, 9, 63], vec![], vec![0, 1], vec![7]];
        let cfg = config(5, true, 0.0);
        let (gens, scores) = generate_scoring_first(&model, &p, &cfg, &ids_text, &wanted).unwrap();
        let tokens: Vec<Vec<u32>> = gens.into_iter().map(|g| g.tokens).collect();
        assert_eq!(tokens, run(&model, &p, &cfg), "{name}");
        assert_eq!(scores.len(), p.len());
        for ((prompt, ids), got) in p.iter().zip(&wanted).zip(&scores) {
            assert_eq!(got.len(), ids.len());
            if ids.is_empty() {
                continue;
            }
            let one_token: Vec<Vec<u32>> = ids.iter().map(|&i| vec![i]).collect();
            let own = continuation_log_probs_cached(&model, prompt, &one_token).unwrap();
            for (g, o) in got.iter().zip(&own) {
                assert!((g - o).abs() <= 1e-5, "{name}: {g} vs {o}");
                assert!(*g < 0.0);
            }
        }
        let (_, none) = generate_scoring_first(&model, &p, &cfg, &ids_text, &[]).unwrap();
        assert!(none.is_empty());
        let short = generate_scoring_first(&model, &p, &cfg, &ids_text, &wanted[..2]);
        assert!(short.unwrap_err().is_bad_input());
        let outside = vec![vec![64_000], vec![], vec![], vec![]];
        let err = generate_scoring_first(&model, &p, &cfg, &ids_text, &outside).unwrap_err();
        assert!(err.is_bad_input());
    }
}
