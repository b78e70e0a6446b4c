//! A minimal GGUF v3 writer for tests that need a GGUF the Python fixtures cannot keep small, and
//! the one such file: a tiny Llama whose rows are 256 wide (one k-quant super-block), with the
//! metadata (tokenizer, chat template) of `gguf_tiny_llama.gguf` and random k-quant blocks. Written
//! from the format description in `gguf.rs`; the reader is checked against gguf-py elsewhere, so
//! this writer only has to round-trip through it. Shared by the model crate's tests and the CLI's.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use finefail_model::gguf::{GgufFile, GgufValue};

/// Width of the tiny k-quant Llama (one super-block per row), its heads and head size.
pub const HIDDEN: u64 = 256;
pub const HEADS: usize = 4;
pub const KV_HEADS: usize = 2;
pub const HEAD_DIM: u64 = 64;
/// Vocabulary of `gguf_tiny_llama.gguf`, whose tokenizer the k-quant Llama reuses.
pub const VOCAB: u64 = 273;
/// ggml's type id of IQ4_XS (256 weights in 136 bytes).
pub const IQ4_XS: u32 = 23;
/// ggml's type id of IQ2_XXS (256 weights in 66 bytes), a type the reader does not dequantize.
pub const IQ2_XXS: u32 = 16;
/// ggml's type ids of the 32-weight fallbacks inside k-quant mixes.
pub const Q5_0: u32 = 6;
pub const Q5_1: u32 = 7;
pub const IQ4_NL: u32 = 20;

/// (GGUF name, rows, cols, ggml type id) of the tiny k-quant Llama: one layer, the types a
/// Q4_K_M file mixes (Q4_K, Q6_K) plus Q2_K, Q3_K, Q5_K; f32 norms.
pub fn kquant_llama_layout() -> Vec<(&'static str, u64, u64, u32)> {
    let kv = KV_HEADS as u64 * HEAD_DIM;
    vec![
        ("token_embd.weight", VOCAB, HIDDEN, 14),
        ("blk.0.attn_norm.weight", 1, HIDDEN, 0),
        ("blk.0.attn_q.weight", HIDDEN, HIDDEN, 12),
        ("blk.0.attn_k.weight", kv, HIDDEN, 13),
        ("blk.0.attn_v.weight", kv, HIDDEN, 11),
        ("blk.0.attn_output.weight", HIDDEN, HIDDEN, 10),
        ("blk.0.ffn_gate.weight", HIDDEN, HIDDEN, 12),
        ("blk.0.ffn_up.weight", HIDDEN, HIDDEN, 13),
        ("blk.0.ffn_down.weight", HIDDEN, HIDDEN, 14),
        ("blk.0.ffn_norm.weight", 1, HIDDEN, 0),
        ("output_norm.weight", 1, HIDDEN, 0),
        ("output.weight", VOCAB, HIDDEN, 10),
    ]
}

/// Writes the tiny k-quant Llama to `path`, taking the metadata of `base` (`gguf_tiny_llama.gguf`),
/// with `ffn_down` of type `down_type` (a k-quant id, [`Q5_0`], [`Q5_1`], [`IQ4_NL`], [`IQ4_XS`] or [`IQ2_XXS`]
/// to test refusals) and every
/// norm weight equal to `norm_value`.
pub fn write_kquant_llama(path: &Path, base: &Path, down_type: u32, norm_value: f32) {
    let base = GgufFile::open(base).unwrap();
    let mut meta: BTreeMap<String, GgufValue> = base.metadata().clone();
    for (key, v) in [
        ("llama.block_count", 1),
        ("llama.embedding_length", HIDDEN as u32),
        ("llama.feed_forward_length", HIDDEN as u32),
        ("llama.rope.dimension_count", HEAD_DIM as u32),
        ("general.file_type", 15), // llama.cpp's MOSTLY_Q4_K_M
    ] {
        meta.insert(key.to_string(), GgufValue::U32(v));
    }
    let tensors = kquant_llama_layout()
        .into_iter()
        .enumerate()
        .map(|(i, (name, rows, cols, ty))| {
            let ty = if name == "blk.0.ffn_down.weight" {
                down_type
            } else {
                ty
            };
            let bytes = match ty {
                0 => (0..rows * cols)
                    .flat_map(|_| norm_value.to_le_bytes())
                    .collect(),
                IQ4_XS => vec![0u8; (rows * cols / 256 * 136) as usize],
                IQ2_XXS => vec![0u8; (rows * cols / 256 * 66) as usize],
                Q5_0 | Q5_1 | IQ4_NL => random_block32s(ty, (rows * cols / 32) as usize, i as u64),
                k => random_kquant_blocks(k, (rows * cols / 256) as usize, i as u64),
            };
            let ggml_dims = if rows == 1 {
                vec![cols]
            } else {
                vec![cols, rows]
            };
            RawTensor {
                name: name.to_string(),
                ggml_dims,
                type_id: ty,
                bytes,
            }
        })
        .collect::<Vec<_>>();
    write_gguf(path, &meta, &tensors);
}

/// One tensor to write: name, ggml dims (innermost first), ggml type id, raw bytes.
pub struct RawTensor {
    pub name: String,
    pub ggml_dims: Vec<u64>,
    pub type_id: u32,
    pub bytes: Vec<u8>,
}

/// Writes `metadata` and `tensors` as a GGUF v3 file aligned to 32 bytes.
pub fn write_gguf(path: &Path, metadata: &BTreeMap<String, GgufValue>, tensors: &[RawTensor]) {
    let mut out = Vec::new();
    out.extend_from_slice(b"GGUF");
    out.extend_from_slice(&3u32.to_le_bytes());
    out.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
    let kv: Vec<_> = metadata
        .iter()
        .filter(|(k, _)| k.as_str() != "general.alignment")
        .collect();
    out.extend_from_slice(&(kv.len() as u64).to_le_bytes());
    for (key, value) in kv {
        put_str(&mut out, key);
        out.extend_from_slice(&type_id(value).to_le_bytes());
        put_value(&mut out, value);
    }
    let mut offset = 0u64;
    for t in tensors {
        put_str(&mut out, &t.name);
        out.extend_from_slice(&(t.ggml_dims.len() as u32).to_le_bytes());
        for d in &t.ggml_dims {
            out.extend_from_slice(&d.to_le_bytes());
        }
        out.extend_from_slice(&t.type_id.to_le_bytes());
        out.extend_from_slice(&offset.to_le_bytes());
        offset = (offset + t.bytes.len() as u64).div_ceil(32) * 32;
    }
    for t in tensors {
        out.resize(out.len().div_ceil(32) * 32, 0);
        out.extend_from_slice(&t.bytes);
    }
    out.resize(out.len().div_ceil(32) * 32, 0);
    std::fs::write(path, out).unwrap();
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// GGUF's metadata value type ids.
fn type_id(v: &GgufValue) -> u32 {
    match v {
        GgufValue::U8(_) => 0,
        GgufValue::I8(_) => 1,
        GgufValue::U16(_) => 2,
        GgufValue::I16(_) => 3,
        GgufValue::U32(_) => 4,
        GgufValue::I32(_) => 5,
        GgufValue::F32(_) => 6,
        GgufValue::Bool(_) => 7,
        GgufValue::String(_) => 8,
        GgufValue::Array(_) => 9,
        GgufValue::U64(_) => 10,
        GgufValue::I64(_) => 11,
        GgufValue::F64(_) => 12,
    }
}

fn put_value(out: &mut Vec<u8>, v: &GgufValue) {
    match v {
        GgufValue::U8(x) => out.push(*x),
        GgufValue::I8(x) => out.extend_from_slice(&x.to_le_bytes()),
        GgufValue::U16(x) => out.extend_from_slice(&x.to_le_bytes()),
        GgufValue::I16(x) => out.extend_from_slice(&x.to_le_bytes()),
        GgufValue::U32(x) => out.extend_from_slice(&x.to_le_bytes()),
        GgufValue::I32(x) => out.extend_from_slice(&x.to_le_bytes()),
        GgufValue::F32(x) => out.extend_from_slice(&x.to_le_bytes()),
        GgufValue::Bool(x) => out.push(u8::from(*x)),
        GgufValue::String(s) => put_str(out, s),
        GgufValue::Array(items) => {
            let item_ty = items.first().map(type_id).unwrap_or(4);
            out.extend_from_slice(&item_ty.to_le_bytes());
            out.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for item in items {
                put_value(out, item);
            }
        }
        GgufValue::U64(x) => out.extend_from_slice(&x.to_le_bytes()),
        GgufValue::I64(x) => out.extend_from_slice(&x.to_le_bytes()),
        GgufValue::F64(x) => out.extend_from_slice(&x.to_le_bytes()),
    }
}

/// ggml type ids of the k-quants, and the offsets of their f16 super-block scales (`d`, then
/// `dmin` where the type has one) inside a block.
pub const KQUANTS: [(&str, u32, usize, &[usize]); 5] = [
    ("Q2_K", 10, 84, &[80, 82]),
    ("Q3_K", 11, 110, &[108]),
    ("Q4_K", 12, 144, &[0, 2]),
    ("Q5_K", 13, 176, &[0, 2]),
    ("Q6_K", 14, 210, &[208]),
];

/// `n_blocks` random blocks of the k-quant `type_id`: random bytes, the f16 super-block scales set
/// to random positive normals in [2^-14, 2^-12) (exponent field 1 or 2) so weights stay small.
pub fn random_kquant_blocks(type_id: u32, n_blocks: usize, seed: u64) -> Vec<u8> {
    let (_, _, block_bytes, f16_at) = KQUANTS
        .iter()
        .find(|k| k.1 == type_id)
        .expect("a k-quant type id");
    let mut rng = SplitMix(seed);
    let mut out = Vec::with_capacity(n_blocks * block_bytes);
    for _ in 0..n_blocks {
        let start = out.len();
        out.extend((0..*block_bytes).map(|_| rng.next() as u8));
        for &at in f16_at.iter() {
            let bits = 0x0400 + (rng.next() % 0x0800) as u16;
            out[start + at..start + at + 2].copy_from_slice(&bits.to_le_bytes());
        }
    }
    out
}

/// `n_blocks` random 32-weight blocks of Q5_0, Q5_1 or IQ4_NL: random bytes, the f16 scale `d`
/// (and Q5_1's min `m`) set as in [`random_kquant_blocks`].
pub fn random_block32s(type_id: u32, n_blocks: usize, seed: u64) -> Vec<u8> {
    let (block_bytes, f16_at): (usize, &[usize]) = match type_id {
        Q5_0 => (22, &[0]),
        Q5_1 => (24, &[0, 2]),
        IQ4_NL => (18, &[0]),
        other => panic!("not a 32-weight fallback type: {other}"),
    };
    let mut rng = SplitMix(seed);
    let mut out = Vec::with_capacity(n_blocks * block_bytes);
    for _ in 0..n_blocks {
        let start = out.len();
        out.extend((0..block_bytes).map(|_| rng.next() as u8));
        for &at in f16_at {
            let bits = 0x0400 + (rng.next() % 0x0800) as u16;
            out[start + at..start + at + 2].copy_from_slice(&bits.to_le_bytes());
        }
    }
    out
}

/// splitmix64: a tiny deterministic generator for test data.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}
