//! Test fixtures generated on the fly (this module is their generator): a tiny word-level tokenizer
//! with a ChatML template, a tiny random Llama (2 layers, d 32) whose vocabulary is that tokenizer's,
//! and a tiny prepared dataset ("what is the colour of the X ?" → a colour) with its splits.

#![allow(dead_code)]

use finefail_core::splitmix::SplitMix64;
use finefail_data::{AnswerType, QaRecord, SplitConfig, SplitUnit, Splits};
use finefail_train::{FinetuneRequest, FinetuneSettings};
use std::path::{Path, PathBuf};

pub const ITEMS: [&str; 16] = [
    "apple", "banana", "cherry", "grape", "lemon", "lime", "plum", "peach", "pear", "kiwi", "sky",
    "grass", "snow", "coal", "rose", "sea",
];
pub const COLOURS: [&str; 8] = [
    "red", "yellow", "red", "purple", "yellow", "green", "purple", "orange",
];
const COLOURS2: [&str; 8] = [
    "green", "green", "blue", "green", "white", "black", "red", "blue",
];

const TEMPLATE: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

fn words() -> Vec<String> {
    let mut w: Vec<String> = [
        "system",
        "user",
        "assistant",
        "Answer",
        "the",
        "question",
        "using",
        "only",
        "context",
        ".",
        "If",
        "does",
        "not",
        "contain",
        "answer",
        ",",
        "reply",
        "exactly",
        ":",
        "I",
        "don",
        "'",
        "t",
        "know",
        "what",
        "is",
        "colour",
        "of",
        "?",
        "Context",
        "Question",
        "[",
        "]",
        "1",
        "2",
        "3",
        "white",
        "black",
        "blue",
        "orange",
        "purple",
        "green",
        "yellow",
        "red",
        "…",
        "numbered",
        "passages",
        "Be",
        "brief",
        "you",
        "do",
        "Answer",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for i in ITEMS {
        w.push(i.to_string());
    }
    w
}

/// Vocabulary size of the fixture tokenizer (4 special tokens + words).
pub fn vocab_size() -> usize {
    4 + words().len()
}

/// Writes tokenizer.json, tokenizer_config.json, config.json and model.safetensors into `dir`.
pub fn write_tiny_model(dir: &Path, seed: u64) {
    std::fs::create_dir_all(dir).unwrap();
    let specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "[UNK]"];
    let mut vocab = serde_json::Map::new();
    for (i, s) in specials.iter().enumerate() {
        vocab.insert(s.to_string(), i.into());
    }
    for (i, w) in words().iter().enumerate() {
        vocab.insert(w.clone(), (i + 4).into());
    }
    let added: Vec<serde_json::Value> = specials[..3]
        .iter()
        .enumerate()
        .map(|(i, s)| {
            serde_json::json!({"id": i, "content": s, "single_word": false, "lstrip": false,
            "rstrip": false, "normalized": false, "special": true})
        })
        .collect();
    let tok = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": added,
        "normalizer": null, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": null,
        "decoder": null, "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"}
    });
    std::fs::write(dir.join("tokenizer.json"), tok.to_string()).unwrap();
    let cfg = serde_json::json!({"chat_template": TEMPLATE, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"});
    std::fs::write(dir.join("tokenizer_config.json"), cfg.to_string()).unwrap();
    let v = vocab_size();
    let (d, ffn, layers, heads, kv) = (32usize, 48usize, 2usize, 4usize, 2usize);
    let model_cfg = serde_json::json!({
        "vocab_size": v, "hidden_size": d, "intermediate_size": ffn, "num_hidden_layers": layers,
        "num_attention_heads": heads, "num_key_value_heads": kv, "rms_norm_eps": 1e-5,
        "max_position_embeddings": 512, "bos_token_id": 0, "eos_token_id": 2, "model_type": "llama",
        "architectures": ["LlamaForCausalLM"], "rope_theta": 10000.0, "tie_word_embeddings": false,
        "torch_dtype": "float32"
    });
    std::fs::write(dir.join("config.json"), model_cfg.to_string()).unwrap();
    let mut rng = SplitMix64::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x1234_5678);
    let mut rnd = |n: usize, scale: f32| -> Vec<f32> {
        (0..n)
            .map(|_| ((rng.next_u64() >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0) * scale)
            .collect()
    };
    let hd = d / heads;
    let mut t: Vec<(String, Vec<usize>, Vec<f32>)> = vec![
        (
            "model.embed_tokens.weight".into(),
            vec![v, d],
            rnd(v * d, 0.5),
        ),
        ("model.norm.weight".into(), vec![d], vec![1.0; d]),
        ("lm_head.weight".into(), vec![v, d], rnd(v * d, 0.3)),
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
            ("q_proj", heads * hd, d),
            ("k_proj", kv * hd, d),
            ("v_proj", kv * hd, d),
            ("o_proj", d, heads * hd),
        ] {
            t.push((
                format!("{p}.self_attn.{n}.weight"),
                vec![o, i],
                rnd(o * i, 0.2),
            ));
        }
        for (n, o, i) in [
            ("gate_proj", ffn, d),
            ("up_proj", ffn, d),
            ("down_proj", d, ffn),
        ] {
            t.push((format!("{p}.mlp.{n}.weight"), vec![o, i], rnd(o * i, 0.2)));
        }
    }
    finefail_model::weights::write_safetensors(&dir.join("model.safetensors"), t).unwrap();
}

/// One record per item (16): "what is the colour of the ITEM ?" → its colour; every fifth unanswerable.
pub fn records() -> Vec<QaRecord> {
    ITEMS
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let colour = if i < 8 { COLOURS[i] } else { COLOURS2[i - 8] };
            QaRecord {
                id: format!("tiny-{i:02}"),
                dataset: "tiny".into(),
                question: format!("what is the colour of the {item} ?"),
                answers: vec![colour.to_string()],
                answer_type: AnswerType::Free,
                label: None,
                answerable: i % 5 != 4,
                gold_doc_ids: vec![],
                source_split: "train".into(),
            }
        })
        .collect()
}

/// Writes qa.parquet and splits.json (test 2, val 2, pool 12) into `dir`.
pub fn write_data(dir: &Path, recs: &[QaRecord]) {
    std::fs::create_dir_all(dir).unwrap();
    finefail_data::tables::write_qa(&dir.join("qa.parquet"), recs).unwrap();
    let cfg = SplitConfig {
        unit: SplitUnit::Question,
        test_size: 2,
        val_size: Some(2),
        split_seed: 0,
        seeds: vec![0, 1],
    };
    Splits::make(recs, &cfg)
        .unwrap()
        .save(&dir.join("splits.json"))
        .unwrap();
}

/// A temp workspace with the tiny model and data.
pub struct Fixture {
    pub tmp: tempfile::TempDir,
    pub model: PathBuf,
    pub data: PathBuf,
}

impl Fixture {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let model = tmp.path().join("model");
        let data = tmp.path().join("data");
        write_tiny_model(&model, 7);
        write_data(&data, &records());
        Self { tmp, model, data }
    }

    /// A request with small, fast settings: 8 examples, batch 4, lr 1e-2, no dropout, 6 steps.
    pub fn request(&self, out: &str) -> FinetuneRequest {
        let mut s = FinetuneSettings::default();
        s.lora.r = 4;
        s.lora.alpha = 8.0;
        s.lora.dropout = 0.0;
        s.train.batch_size = 4;
        s.train.lr = 1e-2;
        s.train.max_steps = Some(6);
        s.train.warmup_ratio = 0.0;
        s.train.checkpoint_every = 2;
        s.train.max_seq_len = 128;
        let mut r = FinetuneRequest::new(&self.data, 8, 0, &self.model, &self.tmp.path().join(out));
        r.settings = s;
        r
    }
}

pub fn sha256(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

/// burn's flex RNG (dropout) is one process-wide generator that every run reseeds per micro-step:
/// training tests in one test process take turns so they do not reseed each other's streams.
pub static RNG_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Takes [`RNG_LOCK`] (ignoring poisoning by a failed test).
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    RNG_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}
