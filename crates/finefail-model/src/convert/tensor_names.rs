//! llama.cpp tensor names → Hugging Face names, and the q/k row un-permutation.
//!
//! llama.cpp's converter permutes the rows of `q_proj` and `k_proj` so that its rope rotates
//! adjacent pairs: per head, Hugging Face rows `[first half | second half]` become interleaved pairs
//! `(0, hd/2), (1, hd/2+1), …`. We undo it: reshape `[heads, head_dim/2, 2, in]`, swap the two middle
//! axes, reshape back to `[heads*head_dim, in]` (k uses the kv-head count).

use crate::convert::hf_files::LlamaParams;
use crate::error::{ModelError, Result};
use crate::gguf::GgufFile;

/// How one GGUF tensor becomes one Hugging Face tensor.
#[derive(Debug, Clone)]
pub(crate) struct TensorPlan {
    pub gguf_name: String,
    pub hf_name: String,
    /// Hugging Face shape (outermost first).
    pub shape: Vec<usize>,
    /// Number of heads whose rows to un-permute (q: heads, k: kv heads), if any.
    pub unpermute_heads: Option<usize>,
}

/// Maps every tensor of `file`, in file order; unknown names are bad input.
pub(crate) fn plan(file: &GgufFile, params: &LlamaParams) -> Result<Vec<TensorPlan>> {
    let mut out = Vec::new();
    for t in file.tensors() {
        let (hf_name, unpermute_heads) = hf_name(&t.name, params).ok_or_else(|| {
            ModelError::bad_input(file.path(), format!("unknown llama tensor `{}`", t.name))
        })?;
        out.push(TensorPlan {
            gguf_name: t.name.clone(),
            hf_name,
            shape: t.shape(),
            unpermute_heads,
        });
    }
    for required in ["model.embed_tokens.weight", "model.norm.weight"] {
        if !out.iter().any(|t| t.hf_name == required) {
            return Err(ModelError::bad_input(
                file.path(),
                format!("GGUF lacks the tensor for `{required}`"),
            ));
        }
    }
    Ok(out)
}

/// The Hugging Face name of a llama.cpp tensor, and the head count to un-permute with.
fn hf_name(name: &str, p: &LlamaParams) -> Option<(String, Option<usize>)> {
    let simple = match name {
        "token_embd.weight" => Some("model.embed_tokens.weight"),
        "output_norm.weight" => Some("model.norm.weight"),
        "output.weight" => Some("lm_head.weight"),
        _ => None,
    };
    if let Some(s) = simple {
        return Some((s.to_string(), None));
    }
    let rest = name.strip_prefix("blk.")?;
    let (layer, rest) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    if layer >= p.n_layers {
        return None;
    }
    let (hf, heads) = match rest {
        "attn_norm.weight" => ("input_layernorm.weight", None),
        "ffn_norm.weight" => ("post_attention_layernorm.weight", None),
        "attn_q.weight" => ("self_attn.q_proj.weight", Some(p.n_heads)),
        "attn_k.weight" => ("self_attn.k_proj.weight", Some(p.n_kv_heads)),
        "attn_v.weight" => ("self_attn.v_proj.weight", None),
        "attn_output.weight" => ("self_attn.o_proj.weight", None),
        "ffn_gate.weight" => ("mlp.gate_proj.weight", None),
        "ffn_up.weight" => ("mlp.up_proj.weight", None),
        "ffn_down.weight" => ("mlp.down_proj.weight", None),
        _ => return None,
    };
    Some((format!("model.layers.{layer}.{hf}"), heads))
}

/// Undoes llama.cpp's rope permutation of a `[heads*head_dim, cols]` row-major matrix:
/// Hugging Face row `h*hd + s*hd/2 + i` is GGUF row `h*hd + 2*i + s`.
pub fn unpermute_rows(data: &[f32], n_heads: usize, cols: usize) -> Vec<f32> {
    let rows = data.len() / cols.max(1);
    let hd = rows / n_heads.max(1);
    let half = hd / 2;
    let mut out = vec![0f32; data.len()];
    for h in 0..n_heads {
        for s in 0..2 {
            for i in 0..half {
                let dst = (h * hd + s * half + i) * cols;
                let src = (h * hd + 2 * i + s) * cols;
                out[dst..dst + cols].copy_from_slice(&data[src..src + cols]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-worked example: one head of dim 4, one column. GGUF rows hold HF rows (0, 2, 1, 3).
    #[test]
    fn unpermute_one_head_by_hand() {
        let gguf = [10.0, 12.0, 11.0, 13.0];
        assert_eq!(unpermute_rows(&gguf, 1, 1), vec![10.0, 11.0, 12.0, 13.0]);
    }

    /// Two heads of dim 4, two columns: each head is un-permuted on its own.
    #[test]
    fn unpermute_two_heads_by_hand() {
        // HF rows r0..r7 (value = 10*row + col). GGUF order per head: 0,2,1,3 | 4,6,5,7.
        let order = [0, 2, 1, 3, 4, 6, 5, 7];
        let gguf: Vec<f32> = order
            .iter()
            .flat_map(|&r| [10.0 * r as f32, 10.0 * r as f32 + 1.0])
            .collect();
        let hf: Vec<f32> = (0..8)
            .flat_map(|r| [10.0 * r as f32, 10.0 * r as f32 + 1.0])
            .collect();
        assert_eq!(unpermute_rows(&gguf, 2, 2), hf);
    }
}
