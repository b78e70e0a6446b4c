//! One micro-batch of examples as tensors, and its loss from the final hidden states: what both the
//! plain backward (`loss`) and the checkpointed one (`recompute`) feed the model.

use crate::examples::Example;
use burn::tensor::{Device, Int, Tensor, TensorData};
use finefail_model::llama::Llama;

/// One micro-batch as tensors: the input rows and where the loss is taken.
///
/// Rows are right-padded to the longest example (causal attention never lets a real token see the
/// padding after it); inputs are `tokens[..len−1]` and position `i` predicts `tokens[i+1]` for the
/// answer positions only.
pub struct MicroBatch {
    /// Input ids `[b, t]`.
    pub tokens: Tensor<2, Int>,
    /// Padded length t.
    pub t: usize,
    /// Flat positions (`row · t + i`) whose next token is an answer token.
    rows: Vec<i64>,
    /// The answer tokens those positions predict.
    targets: Vec<i64>,
}

impl MicroBatch {
    /// Lays out `exs` (right-padded with `pad`) on `device`.
    pub fn new(exs: &[&Example], pad: u32, device: &Device) -> Self {
        let t = exs
            .iter()
            .map(|e| e.tokens.len() - 1)
            .max()
            .unwrap_or(1)
            .max(1);
        let b = exs.len();
        let mut ids = vec![i64::from(pad); b * t];
        let (mut rows, mut targets) = (Vec::new(), Vec::new());
        for (r, e) in exs.iter().enumerate() {
            for (i, &tok) in e.tokens[..e.tokens.len() - 1].iter().enumerate() {
                ids[r * t + i] = i64::from(tok);
            }
            for i in e.prompt_len - 1..e.tokens.len() - 1 {
                rows.push((r * t + i) as i64);
                targets.push(i64::from(e.tokens[i + 1]));
            }
        }
        Self {
            tokens: Tensor::<2, Int>::from_data(TensorData::new(ids, [b, t]), device),
            t,
            rows,
            targets,
        }
    }

    /// The summed answer-token cross-entropy of final-norm hidden states `[b, t, d]`, over `norm`.
    pub fn loss_of_hidden(&self, model: &Llama, hidden: Tensor<3>, norm: f64) -> Tensor<1> {
        let [b, t, d] = hidden.dims();
        let n = self.rows.len();
        let device = hidden.device();
        let rows = Tensor::<1, Int>::from_data(TensorData::new(self.rows.clone(), [n]), &device);
        let h = hidden.reshape([b * t, d]).select(0, rows);
        finefail_model::ops::head_cross_entropy(h, model.output_weight_for_loss(), &self.targets)
            .sum()
            .div_scalar(norm)
    }
}
