//! LoRA on the decoder: which projections an adapter may wrap (by checkpoint path, the names PEFT
//! adapters are keyed by), and attaching, merging and unmerging adapters on all of them at once. The
//! adapter itself — its forward, initialisation and merge arithmetic — lives in [`crate::lora`].

use super::load::{layer_path, ATTENTION_PROJECTIONS, MLP_PROJECTIONS};
use super::{Attention, DecoderLayer, FeedForward, Llama, Mlp};
use crate::error::{ModelError, Result};
use crate::lora::{layer_seed, Linear, LoraConfig};

/// The projections of one decoder layer (`&DecoderLayer` or `&mut DecoderLayer`) LoRA may wrap, as
/// `(path inside the layer, projection)` in checkpoint order: the one table behind
/// [`Llama::linears`] and [`Llama::linears_mut`]. A macro so that one list yields shared or mutable
/// borrows alike.
macro_rules! projections {
    ($layer:expr) => {{
        let DecoderLayer {
            self_attn:
                Attention {
                    q_proj,
                    k_proj,
                    v_proj,
                    o_proj,
                    ..
                },
            mlp,
            ..
        } = $layer;
        let [q, k, v, o] = ATTENTION_PROJECTIONS;
        let mut out = vec![(q, q_proj), (k, k_proj), (v, v_proj), (o, o_proj)];
        if let FeedForward::Dense(Mlp {
            gate_proj,
            up_proj,
            down_proj,
        }) = mlp
        {
            let [gate, up, down] = MLP_PROJECTIONS;
            out.extend([(gate, gate_proj), (up, up_proj), (down, down_proj)]);
        }
        out
    }};
}

impl Llama {
    /// Every projection LoRA may wrap, with its checkpoint path (`model.layers.N.self_attn.q_proj`,
    /// …): what adapters are saved, loaded and inspected by. Mixtral's experts are not listed (PEFT
    /// targets them as w1/w2/w3, which finefail does not train).
    pub fn linears(&self) -> Vec<(String, &Linear)> {
        let mut out = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            for (name, lin) in projections!(l) {
                out.push((format!("{}.{name}", layer_path(i)), lin));
            }
        }
        out
    }

    /// Mutable access to the projections LoRA may wrap, with their checkpoint paths (the same list
    /// as [`Llama::linears`]), for setting adapters loaded from elsewhere.
    pub fn linears_mut(&mut self) -> Vec<(String, &mut Linear)> {
        let mut out = Vec::new();
        for (i, l) in self.layers.iter_mut().enumerate() {
            for (name, lin) in projections!(l) {
                out.push((format!("{}.{name}", layer_path(i)), lin));
            }
        }
        out
    }

    /// Attaches fresh adapters to every projection named in `lora.targets` (the output is unchanged
    /// until they are trained): the start of a fine-tune. Replaces adapters already attached.
    pub fn attach_lora(&mut self, lora: &LoraConfig) -> Result<()> {
        lora.validate()
            .map_err(|m| ModelError::bad_input("lora", m))?;
        for (path, lin) in self.linears_mut() {
            if lora
                .targets
                .iter()
                .any(|t| path.ends_with(&format!(".{t}")))
            {
                lin.unmerge();
                lin.attach_lora(
                    lora.r,
                    lora.alpha,
                    lora.dropout,
                    layer_seed(lora.seed, &path),
                );
            }
        }
        Ok(())
    }

    /// Folds every adapter into its base weight, so inference pays nothing for it (undo with
    /// [`Llama::unmerge_lora`]).
    pub fn merge_lora(&mut self) {
        for (_, lin) in self.linears_mut() {
            lin.merge();
        }
    }

    /// Takes every merged adapter back out of its base weight (before training or saving it again).
    pub fn unmerge_lora(&mut self) {
        for (_, lin) in self.linears_mut() {
            lin.unmerge();
        }
    }
}
