//! The memory plan: an estimate of a step's peak memory before it runs, so a researcher knows
//! whether a fine-tune or an answer step fits the machine (`finefail model info --memory`,
//! `finefail run --plan`).
//!
//! The estimate adds what is resident at the step's peak:
//! - the frozen base in its storage form ([`Precision`]): projections, embeddings, head, norms;
//! - the copies a base makes per forward when it is not stored in its compute dtype (f32 copies of
//!   a 16-bit or quantized base on a CPU, 16-bit copies of a quantized base on a GPU): every
//!   projection's during training without checkpointing (autodiff keeps them for the backward of
//!   `x · W`), one layer's otherwise, plus the head's f32 copy when it is not stored in f32;
//! - LoRA A/B with their gradients, the host copies the optimizer works on and AdamW's two moments;
//! - activations kept for the backward: [`ACTIVATION_FLOATS`] per token per layer (the MLP's
//!   `ffn`-wide ones in the compute dtype, so half as many bytes with a 16-bit one), or with
//!   checkpointing each layer's input plus one layer's activations;
//! - attention's own working set: the fused CPU kernel keeps one log-sum-exp per row and head; the
//!   plain path (LibTorch, CUDA, `--plain`) keeps [`PLAIN_ATTENTION_TENSORS`] `[b, h, t, t]` f32
//!   tensors per layer, which at 4 × 512 × 32 heads is ~0.4 GB per layer — the term that
//!   dominates a 7B fine-tune without checkpointing — and its plain elementwise ops keep
//!   [`PLAIN_EXTRA_ACTIVATION_FLOATS`] more per token;
//! - the output head's working set: chunks of 128 rows on the fused CPU path, of
//!   [`crate::ops::chunked_head::CHUNK_VALUES`] logits elsewhere (the head read in the compute
//!   dtype, so a bf16 head with bf16 compute needs no copy);
//! - a fixed runtime overhead ([`RUNTIME_BYTES`], plus [`LIBTORCH_CPU_RUNTIME_BYTES`] on `tch-cpu`).
//!
//! The constants were fitted on SmolLM2-135M and checked on a random 1.1B Llama at two batch
//! shapes each (measured peaks and estimates side by side in docs/precision.md; `make bench`'s
//! `scripts/bench/memory.sh` remeasures them). GPUs add their framework's own overhead (CUDA
//! context, caching allocator); the plan adds [`GPU_OVERHEAD_BYTES`] on GPU devices.

use crate::config::ModelConfig;
use crate::precision::{Precision, Quantize, WeightDtype};
use std::fmt;

/// Floats kept per token per decoder layer for the backward, `a·d + c·ffn` with (a, c) =
/// `ACTIVATION_FLOATS` (fitted on SmolLM2-135M's measured peaks; the fused CPU ops keep the norms'
/// and projections' inputs, q/k/v, the attention output and the SwiGLU inputs). Mixtral's `ffn`
/// term counts once per expert a token is routed to.
pub const ACTIVATION_FLOATS: (f64, f64) = (4.0, 2.34);

/// `[b, h, t, t]` f32 tensors the plain attention keeps per layer for the backward. Reading burn's
/// softmax accounts for two (its exponentials, for the division, and the probabilities, for
/// `probs · v`); measured peaks say three: fitted 2.95 on SmolLM2-135M `--plain` at 2 × 256 and
/// 2 × 512 together with [`PLAIN_EXTRA_ACTIVATION_FLOATS`], then checked at 1 × 768 and 4 × 256
/// (docs/precision.md).
pub const PLAIN_ATTENTION_TENSORS: f64 = 3.0;

/// Floats per token per layer, in units of the hidden size, that the plain ops keep beyond the
/// fused kernels' [`ACTIVATION_FLOATS`] (plain RMSNorm, RoPE and SwiGLU keep their intermediates):
/// fitted with [`PLAIN_ATTENTION_TENSORS`] on the same measurements.
pub const PLAIN_EXTRA_ACTIVATION_FLOATS: f64 = 4.4;

/// Fixed overhead of the process (code, allocator slack, thread stacks), bytes.
pub const RUNTIME_BYTES: f64 = 20e6;

/// LibTorch's own runtime on the CPU (`tch-cpu`: its libraries, thread pools and kernel
/// workspaces) over flex's, bytes. Measured with SmolLM2-135M: a trivial `bench generate` peaks
/// 477 MB above flex's, and with jemalloc (which returns freed memory) `bench train` on `tch-cpu`
/// peaked 362–480 MB above the plan without it at 2 × 128, 2 × 512 and 2 × 512 checkpointed
/// (docs/precision.md). On a GPU this is host memory, not part of the GPU plan.
pub const LIBTORCH_CPU_RUNTIME_BYTES: f64 = 0.45e9;

/// Extra overhead on a GPU device (CUDA context and the caching allocator's slack), bytes: an
/// assumption, not measured here.
pub const GPU_OVERHEAD_BYTES: f64 = 1.5e9;

/// Rows of logits the fused head + cross-entropy holds at once.
const HEAD_CHUNK_ROWS: f64 = 128.0;

/// Which kernels a training step runs on a device, for what their backward keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernels {
    /// The CPU `flex` device (f32): every op fused (`ops::fused`).
    FusedCpu,
    /// LibTorch (`tch-cpu`, `tch-cuda:N`): LibTorch's fused attention in training
    /// (`ops::torch_attention`, one log-sum-exp per row kept), every other op plain.
    TorchAttention,
    /// burn-cuda (`cuda:N`) and `bench --plain`: plain burn ops.
    Plain,
}

impl Kernels {
    /// The kernels training runs with on `spec`.
    pub fn of(spec: crate::device::DeviceSpec) -> Self {
        use crate::device::DeviceSpec;
        match spec {
            DeviceSpec::Cpu => Self::FusedCpu,
            DeviceSpec::TchCpu | DeviceSpec::TchCuda(_) => Self::TorchAttention,
            DeviceSpec::Cuda(_) => Self::Plain,
        }
    }
}

/// What a step does, for the estimate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Workload {
    /// A LoRA training micro-step.
    Train {
        /// Sequences per forward pass.
        micro_batch: usize,
        /// Tokens per sequence (the configured maximum: the plan is for the longest batch).
        seq_len: usize,
        /// LoRA rank.
        r: usize,
        /// Which projections carry adapters (`q_proj`, …).
        targets: usize,
        /// Recompute each decoder layer in the backward.
        checkpointing: bool,
    },
    /// Batched greedy answering with a KV cache.
    Answer {
        /// Questions decoded together.
        batch: usize,
        /// Prompt tokens (the configured maximum context).
        prompt_len: usize,
        /// New tokens per answer.
        new_tokens: usize,
    },
}

/// An estimate, by part, in bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MemoryEstimate {
    /// The frozen base as stored.
    pub weights: f64,
    /// Copies of weights not stored in their compute dtype, alive at the peak.
    pub weight_copies: f64,
    /// Adapters, their gradients, host copies and optimizer moments.
    pub adapters: f64,
    /// Activations (training) or the KV cache and one layer's working set (answering).
    pub activations: f64,
    /// Attention's kept state in training: `[b, h, t, t]` probabilities on the plain path, one
    /// log-sum-exp per row on the fused one (every layer's, or one layer's with checkpointing).
    pub attention: f64,
    /// Output head working set (logits).
    pub head: f64,
    /// Fixed process (and GPU framework) overhead.
    pub overhead: f64,
}

impl MemoryEstimate {
    /// The estimated peak.
    pub fn total(&self) -> f64 {
        self.weights
            + self.weight_copies
            + self.adapters
            + self.activations
            + self.attention
            + self.head
            + self.overhead
    }
}

impl fmt::Display for MemoryEstimate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (weights {}, weight copies {}, adapters+optimizer {}, activations {}, attention {}, head {}, overhead {})",
            gb(self.total()),
            gb(self.weights),
            gb(self.weight_copies),
            gb(self.adapters),
            gb(self.activations),
            gb(self.attention),
            gb(self.head),
            gb(self.overhead)
        )
    }
}

/// Bytes as "1.23 GB" (or MB below 1 GB).
pub fn gb(bytes: f64) -> String {
    if bytes >= 1e9 {
        format!("{:.2} GB", bytes / 1e9)
    } else {
        format!("{:.0} MB", bytes / 1e6)
    }
}

/// Parameter counts of one model, by kind.
struct Counts {
    /// Projection weights per layer (attention + MLP or all experts).
    layer_linear: f64,
    /// Input widths of the layer's projections, weighted by their size (for int8's row scales).
    layer_linear_bytes: f64,
    embed: f64,
    head: f64,
    norms: f64,
}

fn counts(c: &ModelConfig, p: Precision) -> Counts {
    let (d, ffn) = (c.hidden_size as f64, c.intermediate_size as f64);
    let q = (c.num_attention_heads * c.head_dim) as f64;
    let kv = (c.num_key_value_heads * c.head_dim) as f64;
    let experts = c.moe.map_or(1.0, |m| m.num_experts as f64);
    let bytes =
        |d_in: f64, d_out: f64| d_in * d_out * p.quantize.bytes_per_weight(p.dtype, d_in as usize);
    let attn = d * q + 2.0 * d * kv + q * d;
    let mlp = experts * 3.0 * d * ffn;
    let attn_bytes = bytes(d, q) + 2.0 * bytes(d, kv) + bytes(q, d);
    let mlp_bytes = experts * (2.0 * bytes(d, ffn) + bytes(ffn, d));
    let v = c.vocab_size as f64;
    Counts {
        layer_linear: attn + mlp,
        layer_linear_bytes: attn_bytes + mlp_bytes,
        embed: v * d,
        head: if c.tie_word_embeddings { 0.0 } else { v * d },
        norms: (2.0 * c.num_hidden_layers as f64 + 1.0) * d,
    }
}

/// Bytes per value of the embeddings and head (they keep the storage dtype, never quantized).
fn dense_bytes(p: Precision) -> f64 {
    match p.dtype {
        WeightDtype::Auto => 4.0,
        d => d.bytes(),
    }
}

/// The frozen base's size in its storage form.
pub fn weight_bytes(c: &ModelConfig, p: Precision) -> f64 {
    let n = counts(c, p);
    n.layer_linear_bytes * c.num_hidden_layers as f64
        + (n.embed + n.head) * dense_bytes(p)
        + n.norms * 4.0
}

/// Estimates the peak of `work` on a model of config `c` stored as `p` (resolved), trained with
/// `kernels` (the fused CPU head holds 128 rows of logits, the chunked one a chunk; fused
/// attention keeps a log-sum-exp per row, plain attention `t²` probabilities);
/// `gpu` adds the framework overhead.
///
/// Training is the larger of its phases: without checkpointing, everything the backward needs at
/// once; with it, the layer inputs plus either the head's working set or one layer's activations
/// and weight copy, whichever is larger.
pub fn estimate(
    c: &ModelConfig,
    p: Precision,
    work: Workload,
    kernels: Kernels,
    gpu: bool,
) -> MemoryEstimate {
    let fused = kernels == Kernels::FusedCpu;
    let n = counts(c, p);
    let layers = c.num_hidden_layers as f64;
    let (d, ffn, v) = (
        c.hidden_size as f64,
        c.intermediate_size as f64,
        c.vocab_size as f64,
    );
    let kv = (c.num_key_value_heads * c.head_dim) as f64;
    let routed = c.moe.map_or(1.0, |m| m.experts_per_token as f64);
    // A projection read in the dtype it is stored in needs no copy; otherwise each forward makes
    // one in the compute dtype.
    let compute_bytes = p.compute.bytes();
    let stored_as_computed = p.quantize == Quantize::None && dense_bytes(p) == compute_bytes;
    // The head (and a tied embedding) is read in f32: a copy when stored in 16 bits.
    let head_copy = if dense_bytes(p) == 4.0 {
        0.0
    } else {
        v * d * 4.0
    };
    let layer_copy = if stored_as_computed {
        0.0
    } else {
        n.layer_linear * compute_bytes
    };
    // LibTorch's fused attention runs on LibTorch devices only, so without a GPU this is tch-cpu.
    let libtorch_cpu = kernels == Kernels::TorchAttention && !gpu;
    let overhead = RUNTIME_BYTES
        + if gpu { GPU_OVERHEAD_BYTES } else { 0.0 }
        + if libtorch_cpu {
            LIBTORCH_CPU_RUNTIME_BYTES
        } else {
            0.0
        };
    let weights = weight_bytes(c, p);
    match work {
        Workload::Train {
            micro_batch,
            seq_len,
            r,
            targets,
            checkpointing,
        } => {
            let tokens = (micro_batch * seq_len) as f64;
            let (a, cc) = ACTIVATION_FLOATS;
            let plain_extra = if fused {
                0.0
            } else {
                PLAIN_EXTRA_ACTIVATION_FLOATS * d
            };
            // The MLP's `[tokens, ffn]` activations are kept in the compute dtype: with a 16-bit
            // one gate, up and SwiGLU stay in it (`lora::Linear::forward_in_compute`).
            let ffn_bytes = compute_bytes.min(4.0);
            let per_layer = tokens * ((a * d + plain_extra) * 4.0 + cc * routed * ffn * ffn_bytes);
            // Elsewhere the chunked head (`ops::chunked_head`): a chunk's f32 logits and softmax.
            let logits = if fused {
                HEAD_CHUNK_ROWS * v * 4.0
            } else {
                crate::ops::chunked_head::chunk_rows(c.vocab_size) as f64 * v * 4.0 * 2.0
            };
            // The loss reads the head in the compute dtype: a copy only when stored otherwise.
            let head_copy = if dense_bytes(p) == compute_bytes {
                0.0
            } else {
                v * d * compute_bytes
            };
            let head_phase = head_copy + logits;
            let (b, t, heads) = (
                micro_batch as f64,
                seq_len as f64,
                c.num_attention_heads as f64,
            );
            let attention_layer = if kernels != Kernels::Plain {
                b * heads * t * 4.0
            } else {
                PLAIN_ATTENTION_TENSORS * b * heads * t * t * 4.0
            };
            // Each adapted projection: A [in, r] + B [r, out], out ≈ d (q/o) or kv (k/v).
            let lora_params = layers * targets as f64 * r as f64 * (d + (d + kv) / 2.0);
            // Device A/B and the host's values, gradients and AdamW moments (four f32 copies).
            let adapters = lora_params * 4.0 * 4.0;
            let (copies, activations, attention, head) = if checkpointing {
                let inputs = layers * tokens * d * 4.0;
                if head_phase >= per_layer + attention_layer + layer_copy {
                    (0.0, inputs, 0.0, head_phase)
                } else {
                    (layer_copy, inputs + per_layer, attention_layer, 0.0)
                }
            } else {
                (
                    layers * layer_copy,
                    layers * per_layer,
                    layers * attention_layer,
                    head_phase,
                )
            };
            MemoryEstimate {
                weights,
                weight_copies: copies,
                adapters,
                activations,
                attention,
                head,
                overhead,
            }
        }
        Workload::Answer {
            batch,
            prompt_len,
            new_tokens,
        } => {
            let b = batch as f64;
            let cache = b * layers * 2.0 * kv * (prompt_len + new_tokens) as f64 * 4.0;
            // One layer's prefill working set: a few [b, t, d] and [b, t, ffn] tensors.
            let working = b * prompt_len as f64 * (4.0 * d + 3.0 * routed * ffn) * 4.0;
            MemoryEstimate {
                weights,
                weight_copies: layer_copy + head_copy,
                adapters: 0.0,
                activations: cache + working,
                attention: 0.0,
                head: b * v * 4.0 * 2.0,
                overhead,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn llama2_7b() -> ModelConfig {
        let text = r#"{"model_type":"llama","hidden_size":4096,"intermediate_size":11008,
            "num_hidden_layers":32,"num_attention_heads":32,"num_key_value_heads":32,
            "vocab_size":32000,"tie_word_embeddings":false}"#;
        ModelConfig::from_json_str(text, std::path::Path::new("config.json")).unwrap()
    }

    /// A LoRA r 16 fine-tune on q/k/v/o of `micro_batch` × `seq_len` tokens.
    fn train(micro_batch: usize, seq_len: usize, checkpointing: bool) -> Workload {
        Workload::Train {
            micro_batch,
            seq_len,
            r: 16,
            targets: 4,
            checkpointing,
        }
    }

    /// A bf16 base multiplied in `compute`.
    fn bf16_base_computing(compute: &str) -> Precision {
        Precision::parse("bf16", "none")
            .unwrap()
            .with_compute(compute)
            .unwrap()
    }

    #[test]
    fn weights_of_llama2_7b_in_each_format() {
        let c = llama2_7b();
        let gbs = |d: &str, q: &str| weight_bytes(&c, Precision::parse(d, q).unwrap()) / 1e9;
        // 6.74 B parameters: 27.0 GB in f32, 13.5 in bf16.
        assert!(
            (gbs("f32", "none") - 26.95).abs() < 0.1,
            "{}",
            gbs("f32", "none")
        );
        assert!((gbs("bf16", "none") - 13.48).abs() < 0.05);
        // int8 projections + bf16 embeddings/head: 6.48 B × 1 + 0.26 B × 2 ≈ 7.0 GB.
        assert!(
            (gbs("bf16", "int8") - 7.0).abs() < 0.1,
            "{}",
            gbs("bf16", "int8")
        );
        // NF4: 0.5625 bytes per projection weight.
        assert!(
            (gbs("bf16", "nf4") - 4.17).abs() < 0.1,
            "{}",
            gbs("bf16", "nf4")
        );
    }

    #[test]
    fn checkpointing_and_quantization_lower_the_training_peak() {
        let c = llama2_7b();
        let work = |ck| train(4, 1024, ck);
        let bf16 = Precision::parse("bf16", "none").unwrap();
        let nf4 = Precision::parse("bf16", "nf4").unwrap();
        let plain = estimate(&c, bf16, work(false), Kernels::Plain, true).total();
        let ck = estimate(&c, bf16, work(true), Kernels::Plain, true).total();
        let q = estimate(&c, nf4, work(true), Kernels::Plain, true).total();
        assert!(ck < plain && q < ck, "{plain} {ck} {q}");
    }

    /// A bf16 base multiplied in bf16 (the GPU default) keeps no weight copies; multiplied in f32
    /// it keeps an f32 copy of every projection (4 bytes × 6.48 B) through the backward.
    #[test]
    fn a_16_bit_compute_dtype_needs_no_copies_of_a_16_bit_base() {
        let c = llama2_7b();
        let work = train(1, 512, false);
        let p = bf16_base_computing;
        let f32_compute = estimate(&c, p("f32"), work, Kernels::Plain, true).weight_copies;
        let bf16_compute = estimate(&c, p("bf16"), work, Kernels::Plain, true).weight_copies;
        assert_eq!(bf16_compute, 0.0);
        assert!((f32_compute / 1e9 - 25.9).abs() < 0.2, "{f32_compute}");
        let nf4 = Precision::parse("bf16", "nf4")
            .unwrap()
            .with_compute("bf16")
            .unwrap();
        let nf4_copies = estimate(&c, nf4, work, Kernels::Plain, true).weight_copies;
        assert!((nf4_copies - f32_compute / 2.0).abs() < 1e6, "{nf4_copies}");
    }

    /// With a 16-bit compute dtype the MLP's activations are kept in it (issue 23, item 4): by
    /// hand, 32 layers × 2,048 tokens × 2.34 × 11,008 values × 2 bytes fewer than in f32.
    #[test]
    fn a_16_bit_compute_dtype_keeps_the_mlp_activations_in_16_bits() {
        let c = llama2_7b();
        let work = train(4, 512, false);
        let acts = |compute| {
            estimate(
                &c,
                bf16_base_computing(compute),
                work,
                Kernels::TorchAttention,
                true,
            )
            .activations
        };
        let saved = acts("f32") - acts("bf16");
        let by_hand = 32.0 * 2048.0 * ACTIVATION_FLOATS.1 * 11008.0 * 2.0;
        assert!((saved - by_hand).abs() < 1.0, "{saved} vs {by_hand}");
    }

    /// On `tch-cpu` the plan adds LibTorch's runtime; on a LibTorch GPU it does not (host memory),
    /// and flex never does.
    #[test]
    fn libtorch_on_the_cpu_adds_its_runtime() {
        let c = llama2_7b();
        let work = train(1, 256, true);
        let p = Precision::parse("f32", "none").unwrap();
        let over = |k, gpu| estimate(&c, p, work, k, gpu).overhead;
        assert_eq!(
            over(Kernels::TorchAttention, false) - over(Kernels::FusedCpu, false),
            LIBTORCH_CPU_RUNTIME_BYTES
        );
        assert_eq!(
            over(Kernels::TorchAttention, true),
            over(Kernels::Plain, true)
        );
        assert_eq!(over(Kernels::FusedCpu, false), RUNTIME_BYTES);
    }

    /// The plain path's attention state, by hand: 3 tensors × 4 sequences × 32 heads × 512² × 4
    /// bytes × 32 layers = 12.88 GB (issue 23 counted two, "~8 GiB per micro-batch"; the
    /// measurements say three); one layer's with checkpointing; the fused kernel's log-sum-exp is
    /// t times smaller per tensor.
    #[test]
    fn the_plain_path_counts_its_attention_probabilities() {
        let c = llama2_7b();
        let work = |ck| train(4, 512, ck);
        let bf16 = Precision::parse("bf16", "none").unwrap();
        let plain = estimate(&c, bf16, work(false), Kernels::Plain, true);
        assert!(
            (plain.attention - 12.885e9).abs() < 1e7,
            "{}",
            plain.attention
        );
        let ck = estimate(&c, bf16, work(true), Kernels::Plain, true);
        assert!(
            (ck.attention - 12.885e9 / 32.0).abs() < 1e6,
            "{}",
            ck.attention
        );
        let fused = estimate(&c, bf16, work(false), Kernels::FusedCpu, false);
        assert!((fused.attention - 4.0 * 32.0 * 512.0 * 4.0 * 32.0).abs() < 1.0);
        assert!(plain.total() - fused.total() > 12.8e9);
        // LibTorch's fused attention keeps the log-sum-exp only; its other ops stay plain.
        let torch = estimate(&c, bf16, work(false), Kernels::TorchAttention, true);
        assert_eq!(torch.attention, fused.attention);
        assert_eq!(torch.activations, plain.activations);
    }
}
