//! Where the new tokens of a forward pass sit and what they may attend to: rotary positions and the
//! additive attention mask, for plain causal attention (training, a cache without padding) and for
//! left-padded batches (generation).

use burn::tensor::{Device, Tensor, TensorData};

/// Where the new tokens of a forward pass sit and what they may attend to.
#[derive(Debug, Clone)]
pub struct AttentionInput {
    /// Rotary position of each new token, one row per sequence (all rows equal when unpadded).
    pub positions: Vec<Vec<usize>>,
    /// Additive mask `[b or 1, 1, t, past + t]`: 0 where attention is allowed, -inf where blocked.
    pub mask: Tensor<4>,
    /// True when the mask is plain causality (no padding): the fused attention then skips it.
    pub causal_only: bool,
}

impl AttentionInput {
    /// Plain causal attention for `t` new tokens after `past` cached ones (same for every row).
    pub fn causal(t: usize, past: usize, device: &Device) -> Self {
        let tk = past + t;
        let mut m = vec![0.0f32; t * tk];
        for i in 0..t {
            for j in (past + i + 1)..tk {
                m[i * tk + j] = f32::NEG_INFINITY;
            }
        }
        Self {
            positions: vec![(past..past + t).collect()],
            mask: Tensor::from_data(TensorData::new(m, [1, 1, t, tk]), device),
            causal_only: true,
        }
    }

    /// Causal attention with left padding: `key_valid[row]` covers the cached and the `t` new
    /// positions (false = padding). Positions count real tokens only, as Hugging Face derives them
    /// from the attention mask, so a padded row sees the same positions as it would alone. A padding
    /// query may attend to itself only (keeps softmax finite; its output is never used).
    pub fn padded(key_valid: &[Vec<bool>], t: usize, device: &Device) -> Self {
        let b = key_valid.len();
        let tk = key_valid.first().map_or(0, Vec::len);
        let past = tk - t;
        let mut m = vec![0.0f32; b * t * tk];
        let mut positions = Vec::with_capacity(b);
        for (row, valid) in key_valid.iter().enumerate() {
            // position of a real token = real tokens before it; a pad gets position 0
            let pos: Vec<usize> = (past..tk)
                .map(|j| {
                    if valid[j] {
                        valid[..j].iter().filter(|&&v| v).count()
                    } else {
                        0
                    }
                })
                .collect();
            positions.push(pos);
            for i in 0..t {
                let qi = past + i;
                for j in 0..tk {
                    let allowed = j <= qi && (valid[j] || (j == qi && !valid[qi]));
                    if !allowed {
                        m[(row * t + i) * tk + j] = f32::NEG_INFINITY;
                    }
                }
            }
        }
        Self {
            positions,
            mask: Tensor::from_data(TensorData::new(m, [b, 1, t, tk]), device),
            causal_only: key_valid.iter().all(|r| r.iter().all(|&v| v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask_rows(input: &AttentionInput) -> Vec<Vec<bool>> {
        let [b, _, t, tk] = input.mask.dims();
        let m = crate::weights::tensor_values(input.mask.clone()).unwrap();
        (0..b * t)
            .map(|r| (0..tk).map(|j| m[r * tk + j] == 0.0).collect())
            .collect()
    }

    /// Hand-checked: row 0 = [pad, a, b], row 1 = [c, d, e]; every query allowed where `true`.
    #[test]
    fn padded_input_positions_and_mask() {
        let dev = Device::flex();
        let valid = vec![vec![false, true, true], vec![true, true, true]];
        let input = AttentionInput::padded(&valid, 3, &dev);
        assert_eq!(input.positions, vec![vec![0, 0, 1], vec![0, 1, 2]]);
        let (t, f) = (true, false);
        assert_eq!(
            mask_rows(&input),
            vec![
                vec![t, f, f], // the pad query sees only itself
                vec![f, t, f],
                vec![f, t, t],
                vec![t, f, f],
                vec![t, t, f],
                vec![t, t, t],
            ]
        );
        // One decode step after the prompt: the new token is row 0's third real token.
        let mut longer = valid.clone();
        longer.iter_mut().for_each(|r| r.push(true));
        let step = AttentionInput::padded(&longer, 1, &dev);
        assert_eq!(step.positions, vec![vec![2], vec![3]]);
        assert_eq!(mask_rows(&step), vec![vec![f, t, t, t], vec![t, t, t, t]]);
    }

    #[test]
    fn causal_input_after_cache() {
        let input = AttentionInput::causal(2, 3, &Device::flex());
        assert_eq!(input.positions, vec![vec![3, 4]]);
        let (t, f) = (true, false);
        assert_eq!(
            mask_rows(&input),
            vec![vec![t, t, t, t, f], vec![t, t, t, t, t]]
        );
    }
}
