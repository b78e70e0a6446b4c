//! The label log-likelihood as answering computes it (issue 25): the fast path (the prompt run
//! once, each label continued from its KV cache: `finefail_model::continuations`) against the
//! proven full-pass scorer (`label_likelihood::continuation_log_probs` / `score_labels`, itself
//! checked against numpy in tests/label_likelihood.rs) on the committed tiny Llama fixture, with and
//! without its LoRA adapter; and `score_question`'s rows (spellings, log-sum-exp, per-character
//! normalisation) against `score_labels` on each spelling.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use finefail_data::{Label, LabelSet};
use finefail_model::chat::ChatMessage;
use finefail_model::chat_model::ChatModel;
use finefail_model::continuations::continuation_log_probs_cached;
use finefail_rag::label_likelihood::{continuation_log_probs, label_tokens, score_labels};
use finefail_rag::label_ll_answers::{log_add_exp, score_question, spellings};
use serde_json::Value;

/// Fast path against full pass: both f32 forwards of the same weights, summed in f64.
const TOL: f64 = 1e-5;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn model_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../finefail-model/tests/fixtures")
}

/// tiny_llama's config and weights beside the word-level ChatML tokenizer (as tests/label_likelihood.rs).
fn load(adapter: bool) -> (tempfile::TempDir, ChatModel) {
    let tmp = tempfile::tempdir().unwrap();
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(
            model_fixtures().join("tiny_llama").join(f),
            tmp.path().join(f),
        )
        .unwrap();
    }
    for f in ["tokenizer.json", "tokenizer_config.json"] {
        let from = fixtures().join("tiny_chat_tokenizer").join(f);
        std::fs::copy(from, tmp.path().join(f)).unwrap();
    }
    let lora = model_fixtures().join("tiny_llama_lora");
    let model = ChatModel::load(
        tmp.path(),
        adapter.then_some(lora.as_path()),
        &Device::flex(),
    )
    .unwrap();
    (tmp, model)
}

/// The reference cases' prompts (two questions) and labels (`yes`, `no`, `maybe`: one token each;
/// `I don't know`: five, so the cached continuation pass runs).
fn cases() -> Vec<(Vec<ChatMessage>, Vec<String>)> {
    let path = fixtures().join("label_likelihood_reference.json");
    let r: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    r["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["adapter"].as_bool() == Some(false))
        .map(|c| {
            let msgs = c["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| {
                    ChatMessage::new(m["role"].as_str().unwrap(), m["content"].as_str().unwrap())
                })
                .collect();
            let labels = c["labels"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["label"].as_str().unwrap().to_string())
                .collect();
            (msgs, labels)
        })
        .collect()
}

fn fast_equals_full(adapter: bool) {
    let (_dir, model) = load(adapter);
    let mut worst = 0.0f64;
    let (mut fast_ms, mut full_ms) = (0u128, 0u128);
    for (msgs, labels) in cases() {
        let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
        let (prompt, conts) = label_tokens(&model, &msgs, &labels).unwrap();
        assert!(
            conts.iter().any(|c| c.len() > 1),
            "a multi-token label runs the cached pass"
        );
        let t = std::time::Instant::now();
        let full = continuation_log_probs(&model.model, &prompt, &conts).unwrap();
        full_ms += t.elapsed().as_millis();
        let t = std::time::Instant::now();
        let fast = continuation_log_probs_cached(&model.model, &prompt, &conts).unwrap();
        fast_ms += t.elapsed().as_millis();
        for ((f, g), label) in fast.iter().zip(&full).zip(&labels) {
            let d = (f - g).abs();
            worst = worst.max(d);
            assert!(d <= TOL, "`{label}`: fast {f} vs full {g} (|Δ| {d:.2e})");
        }
    }
    eprintln!(
        "adapter {adapter}: max |fast − full| = {worst:.2e}; fast {fast_ms} ms, full {full_ms} ms"
    );
}

#[test]
fn the_cached_path_equals_the_full_pass_without_adapter() {
    fast_equals_full(false);
}

#[test]
fn the_cached_path_equals_the_full_pass_with_adapter() {
    fast_equals_full(true);
}

/// `score_question` (what answering writes) on the reference prompts: each spelling's column equals
/// `score_labels` on that spelling, the label's `log_prob` is their log-sum-exp, and the
/// normalised one divides by the label's characters. (The fixture tokenizer has no capitalised
/// words: `Yes`, `No`, `Maybe` are all its unknown token, which changes nothing here.)
#[test]
fn score_question_sums_the_spellings_of_each_label() {
    let (_dir, model) = load(true);
    for (msgs, _) in cases() {
        let rows = score_question(&model, "d/m/n4/s0", "q1", &msgs, LabelSet::YesNoMaybe).unwrap();
        let labels = [Label::Yes, Label::No, Label::Maybe];
        assert_eq!(rows.iter().map(|r| r.label).collect::<Vec<_>>(), labels);
        let lower: Vec<String> = labels.iter().map(|&l| spellings(l)[0].clone()).collect();
        let capital: Vec<String> = labels.iter().map(|&l| spellings(l)[1].clone()).collect();
        let score = |words: &[String]| {
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            score_labels(&model, &msgs, &words).unwrap()
        };
        let (lo, cap) = (score(&lower), score(&capital));
        for (i, r) in rows.iter().enumerate() {
            assert_eq!(
                (r.arm.as_str(), r.question_id.as_str()),
                ("d/m/n4/s0", "q1")
            );
            assert!(
                (r.log_prob_lower - lo.labels[i].log_prob).abs() <= TOL,
                "{r:?}"
            );
            assert!(
                (r.log_prob_capital - cap.labels[i].log_prob).abs() <= TOL,
                "{r:?}"
            );
            let both = log_add_exp(r.log_prob_lower, r.log_prob_capital);
            assert!((r.log_prob - both).abs() < 1e-12, "{r:?}");
            assert!(r.log_prob > r.log_prob_lower && r.log_prob > r.log_prob_capital);
            let chars = r.label.as_str().len() as f64;
            assert!(
                (r.norm_log_prob - r.log_prob / chars).abs() < 1e-12,
                "{r:?}"
            );
        }
        // A yes/no dataset scores yes and no only.
        let two = score_question(&model, "a", "q", &msgs, LabelSet::YesNo).unwrap();
        assert_eq!(
            two.iter().map(|r| r.label).collect::<Vec<_>>(),
            [Label::Yes, Label::No]
        );
        assert!((two[0].log_prob - rows[0].log_prob).abs() <= TOL);
    }
}

/// What the fast path saves at the default model's size, without its weights (timing depends on
/// the shapes only): a random Llama shaped as SmolLM2-135M (d 576, 30 layers, 9/3 heads, vocab
/// 49,152, tied head), a 125-token prompt and six continuations (yes/Yes/no/No/maybe/Maybe: five of
/// one token, one of two). Ignored by default (it writes a 540 MB checkpoint); run with
/// `cargo test --workspace --test label_ll_answers -- --ignored --nocapture`.
#[test]
#[ignore]
fn cost_at_the_default_model_s_size() {
    let dir = tempfile::tempdir().unwrap();
    let (v, d, ffn, layers, heads, kv) =
        (49_152usize, 576usize, 1536usize, 30usize, 9usize, 3usize);
    let cfg = serde_json::json!({
        "vocab_size": v, "hidden_size": d, "intermediate_size": ffn, "num_hidden_layers": layers,
        "num_attention_heads": heads, "num_key_value_heads": kv, "rms_norm_eps": 1e-5,
        "max_position_embeddings": 8192, "bos_token_id": 1, "eos_token_id": 2,
        "model_type": "llama", "architectures": ["LlamaForCausalLM"], "rope_theta": 100000.0,
        "tie_word_embeddings": true, "torch_dtype": "float32"
    });
    std::fs::write(dir.path().join("config.json"), cfg.to_string()).unwrap();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut rnd = |n: usize, scale: f32| -> Vec<f32> {
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                ((state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
            })
            .collect()
    };
    let hd = d / heads;
    let mut t = vec![
        (
            "model.embed_tokens.weight".to_string(),
            vec![v, d],
            rnd(v * d, 0.05),
        ),
        ("model.norm.weight".to_string(), vec![d], vec![1.0; d]),
    ];
    for l in 0..layers {
        let p = format!("model.layers.{l}");
        t.push((format!("{p}.input_layernorm.weight"), vec![d], vec![1.0; d]));
        t.push((
            format!("{p}.post_attention_layernorm.weight"),
            vec![d],
            vec![1.0; d],
        ));
        for (n, o, i) in [
            ("self_attn.q_proj", heads * hd, d),
            ("self_attn.k_proj", kv * hd, d),
            ("self_attn.v_proj", kv * hd, d),
            ("self_attn.o_proj", d, heads * hd),
            ("mlp.gate_proj", ffn, d),
            ("mlp.up_proj", ffn, d),
            ("mlp.down_proj", d, ffn),
        ] {
            t.push((format!("{p}.{n}.weight"), vec![o, i], rnd(o * i, 0.05)));
        }
    }
    finefail_model::weights::write_safetensors(&dir.path().join("model.safetensors"), t).unwrap();
    let model = finefail_model::llama::Llama::load(dir.path(), &Device::flex()).unwrap();
    let prompt: Vec<u32> = (0..125u32).map(|i| 100 + i * 37 % 40_000).collect();
    let conts: Vec<Vec<u32>> = vec![
        vec![7566],
        vec![10_190],
        vec![1224],
        vec![3_220],
        vec![18_230],
        vec![40_100, 93],
    ];
    // Warm-up, then the median of five runs each.
    continuation_log_probs_cached(&model, &prompt, &conts).unwrap();
    let time = |f: &dyn Fn() -> Vec<f64>| {
        let mut ms: Vec<f64> = (0..5)
            .map(|_| {
                let t = std::time::Instant::now();
                f();
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        ms.sort_by(f64::total_cmp);
        ms[2]
    };
    let full = time(&|| continuation_log_probs(&model, &prompt, &conts).unwrap());
    let fast = time(&|| continuation_log_probs_cached(&model, &prompt, &conts).unwrap());
    let a = continuation_log_probs(&model, &prompt, &conts).unwrap();
    let b = continuation_log_probs_cached(&model, &prompt, &conts).unwrap();
    let worst = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    eprintln!(
        "SmolLM2-135M shape, 125-token prompt, 6 continuations: full pass {full:.0} ms, \
         prompt once + cache {fast:.0} ms (median of 5); max |Δ log p| {worst:.2e}"
    );
    assert!(worst <= 1e-4, "{worst}");
}
