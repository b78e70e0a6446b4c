//! The label log-likelihood scorer against an independent float64 numpy computation
//! (`fixtures/make_label_likelihood_reference.py`: its own ChatML rendering and tokenisation, and
//! finefail-model's numpy reference forward of the tiny Llama fixture), with and without the fixture's
//! LoRA adapter; and the two decision rules (lm-eval's `acc` and `acc_norm`) on a hand-computed case.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use finefail_model::chat::ChatMessage;
use finefail_model::chat_model::ChatModel;
use finefail_rag::label_likelihood::{continuation_log_probs, decide, label_tokens, score_labels};
use serde_json::Value;

/// Tolerance on a log-probability (absolute): f32 forward against f64 numpy.
const TOL: f64 = 1e-3;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn model_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../finefail-model/tests/fixtures")
}

/// A chat checkpoint: tiny_llama's config and weights beside the fixture's word-level tokenizer.
fn chat_dir() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(
            model_fixtures().join("tiny_llama").join(f),
            tmp.path().join(f),
        )
        .unwrap();
    }
    for f in ["tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(
            fixtures().join("tiny_chat_tokenizer").join(f),
            tmp.path().join(f),
        )
        .unwrap();
    }
    tmp
}

fn reference() -> Value {
    let path = fixtures().join("label_likelihood_reference.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn messages(v: &Value) -> Vec<ChatMessage> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|m| ChatMessage::new(m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
        .collect()
}

fn check(adapter: bool) {
    let dir = chat_dir();
    let lora = model_fixtures().join("tiny_llama_lora");
    let model = ChatModel::load(
        dir.path(),
        adapter.then_some(lora.as_path()),
        &Device::flex(),
    )
    .unwrap();
    let r = reference();
    let cases: Vec<&Value> = r["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["adapter"].as_bool() == Some(adapter))
        .collect();
    assert_eq!(cases.len(), 2);
    let mut worst = 0.0f64;
    for case in cases {
        let msgs = messages(&case["messages"]);
        let labels: Vec<&str> = case["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["label"].as_str().unwrap())
            .collect();
        let (prompt, _) = label_tokens(&model, &msgs, &labels).unwrap();
        assert_eq!(prompt, ids(&case["prompt_tokens"]), "prompt tokens");
        let got = score_labels(&model, &msgs, &labels).unwrap();
        for (g, want) in got.labels.iter().zip(case["labels"].as_array().unwrap()) {
            assert_eq!(g.label, want["label"].as_str().unwrap());
            assert_eq!(g.tokens, ids(&want["tokens"]), "tokens of `{}`", g.label);
            let d = (g.log_prob - want["log_prob"].as_f64().unwrap()).abs();
            let dn = (g.norm_log_prob - want["norm_log_prob"].as_f64().unwrap()).abs();
            worst = worst.max(d);
            assert!(d <= TOL, "`{}`: log-prob off by {d}", g.label);
            assert!(dn <= TOL, "`{}`: normalised log-prob off by {dn}", g.label);
        }
        assert_eq!(got.best, case["best"].as_u64().unwrap() as usize);
        assert_eq!(got.best_norm, case["best_norm"].as_u64().unwrap() as usize);
    }
    eprintln!("adapter {adapter}: max |log-prob diff| = {worst:.2e}");
}

#[test]
fn label_log_probs_match_numpy_without_adapter() {
    check(false);
}

#[test]
fn label_log_probs_match_numpy_with_adapter() {
    check(true);
}

/// The batched pass (rows right-padded to the longest label) gives what one row at a time gives.
#[test]
fn padding_the_batch_changes_nothing() {
    let dir = chat_dir();
    let model = ChatModel::load(dir.path(), None, &Device::flex()).unwrap();
    let r = reference();
    let case = &r["cases"][0];
    let prompt = ids(&case["prompt_tokens"]);
    let conts: Vec<Vec<u32>> = case["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| ids(&l["tokens"]))
        .collect();
    assert!(conts.iter().map(Vec::len).max() > conts.iter().map(Vec::len).min());
    let batched = continuation_log_probs(&model.model, &prompt, &conts).unwrap();
    for (c, b) in conts.iter().zip(&batched) {
        let alone = continuation_log_probs(&model.model, &prompt, std::slice::from_ref(c)).unwrap();
        assert!((alone[0] - b).abs() < 1e-4, "{} vs {b}", alone[0]);
    }
}

/// A label that adds no token after the prompt (empty, or whitespace the tokenizer drops) is refused.
#[test]
fn a_label_without_tokens_is_refused() {
    let dir = chat_dir();
    let model = ChatModel::load(dir.path(), None, &Device::flex()).unwrap();
    let msgs = vec![ChatMessage::new("user", "is the sky blue?")];
    for bad in ["", "  "] {
        let err = score_labels(&model, &msgs, &["yes", bad]).unwrap_err();
        assert!(err.is_bad_input(), "{err}");
    }
    assert!(score_labels(&model, &msgs, &[]).unwrap_err().is_bad_input());
}

/// Hand-computed: sums −2.0 (yes), −1.9 (no), −4.0 (maybe). `acc` takes the largest sum: "no".
/// `acc_norm` divides by characters: yes −2.0/3 = −0.667, no −1.9/2 = −0.95, maybe −4.0/5 = −0.8, so
/// it takes "yes": the two rules disagree, as they do when a short label is only slightly likelier.
#[test]
fn acc_and_acc_norm_decide_by_hand() {
    let got = decide(&["yes", "no", "maybe"], &[-2.0, -1.9, -4.0]).unwrap();
    assert_eq!((got.best, got.choice()), (1, "no"));
    assert_eq!((got.best_norm, got.choice_norm()), (0, "yes"));
    let norms: Vec<f64> = got.labels.iter().map(|l| l.norm_log_prob).collect();
    for (n, want) in norms.iter().zip([-2.0 / 3.0, -0.95, -0.8]) {
        assert!((n - want).abs() < 1e-12, "{n} vs {want}");
    }
    // Ties go to the first label (numpy's argmax): −1.5 for both sums, −0.5 for both norms.
    let tie = decide(&["yes", "no"], &[-1.5, -1.5]).unwrap();
    assert_eq!(tie.best, 0);
    let tie_norm = decide(&["yes", "maybe"], &[-1.5, -2.5]).unwrap();
    assert_eq!((tie_norm.best, tie_norm.best_norm), (0, 0));
    // Characters, not bytes: "é" is one character (two UTF-8 bytes).
    let accent = decide(&["né", "non"], &[-1.0, -1.4]).unwrap();
    assert!((accent.labels[0].norm_log_prob + 0.5).abs() < 1e-12);
    assert!(decide(&["yes"], &[]).unwrap_err().is_bad_input());
}

/// The default model (checkpoints/smollm2-135m-instruct, `make model`; skipped when absent) on a
/// PubMedQA-style RAG prompt: every label tokenises as a continuation of the prompt, each summed
/// log-probability equals the one read from the full-sequence logits (`Llama::logits_of_ids`, the
/// path `finefail model logits` uses) within 1e-3, and the label probabilities sum to at most 1.
#[test]
fn default_model_scores_labels_like_its_full_logits() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../checkpoints/smollm2-135m-instruct");
    if !dir.join("model.safetensors").is_file() {
        eprintln!("skipped: {} not present (run `make model`)", dir.display());
        return;
    }
    let model = ChatModel::load(&dir, None, &Device::flex()).unwrap();
    let chunks = vec![
        "In a randomised trial of 2,000 adults, daily low-dose aspirin reduced the rate of first \
         myocardial infarction by 32% compared with placebo (p < 0.001)."
            .to_string(),
    ];
    let msgs = finefail_rag::rag_prompt::rag_messages(
        "Does daily low-dose aspirin reduce the risk of a first heart attack?",
        &chunks,
        finefail_rag::rag_prompt::AnswerForm::Label(finefail_data::LabelSet::YesNoMaybe),
    );
    let labels = ["yes", "no", "maybe", "Yes", "No", "Maybe"];
    let started = std::time::Instant::now();
    let got = score_labels(&model, &msgs, &labels).unwrap();
    let ms = started.elapsed().as_millis();
    let (prompt, _) = label_tokens(&model, &msgs, &labels).unwrap();
    let mut mass = 0.0;
    for l in &got.labels {
        let seq: Vec<u32> = prompt.iter().chain(&l.tokens).copied().collect();
        let logits = model.model.logits_of_ids(&seq).unwrap();
        let v = model.model.config().vocab_size;
        let full: f64 = l
            .tokens
            .iter()
            .enumerate()
            .map(|(j, &tok)| {
                let row = &logits[(prompt.len() - 1 + j) * v..(prompt.len() + j) * v];
                let max = row
                    .iter()
                    .fold(f64::NEG_INFINITY, |m, &x| m.max(f64::from(x)));
                let sum: f64 = row.iter().map(|&x| (f64::from(x) - max).exp()).sum();
                f64::from(row[tok as usize]) - max - sum.ln()
            })
            .sum();
        assert!(
            (full - l.log_prob).abs() <= TOL,
            "`{}`: {full} vs {}",
            l.label,
            l.log_prob
        );
        mass += l.log_prob.exp();
        eprintln!(
            "{:>6}: tokens {:?}, log p {:.3} (p {:.3}), norm {:.3}",
            l.label,
            l.tokens,
            l.log_prob,
            l.log_prob.exp(),
            l.norm_log_prob
        );
    }
    eprintln!(
        "prompt {} tokens, {} labels scored in {ms} ms; acc picks `{}`, acc_norm `{}`",
        prompt.len(),
        labels.len(),
        got.choice(),
        got.choice_norm()
    );
    assert!(mass <= 1.0 + 1e-6, "label probabilities sum to {mass}");
}
