//! AdamW and global gradient-norm clipping on host vectors, exactly as PyTorch's `torch.optim.AdamW`
//! (decoupled weight decay `p ← p·(1 − lr·wd)`, bias-corrected moments, `eps` added after the
//! square root) and `torch.nn.utils.clip_grad_norm_` (one norm over all trainable tensors, scaled by
//! `max_norm / (norm + 1e-6)` when above it).
//!
//! Why on the host rather than burn's `AdamW`: the trainable tensors are the small LoRA matrices
//! (~1.8 M values for SmolLM2 r 16 on q/k/v/o), burn keys optimizer state by `ParamId` (which a
//! reloaded adapter does not keep), and a resumable run needs the moments saved bit for bit under
//! stable names. The arithmetic is elementwise f32 in a fixed order, so it is deterministic.

use std::collections::BTreeMap;

/// AdamW hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWParams {
    /// β₁, β₂.
    pub betas: [f64; 2],
    /// ε.
    pub eps: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
}

/// First and second moments of one tensor.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Moments {
    /// m (first moment).
    pub m: Vec<f32>,
    /// v (second moment).
    pub v: Vec<f32>,
}

/// The f32 scalars of AdamW step `step` (counted from 1), computed in f64 and rounded once: the
/// one place both the host loop and the device path ([`crate::device_adamw`]) take them from, so
/// the two round alike.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StepScalars {
    /// `lr / (1 − β₁ᵗ)`.
    pub step_size: f32,
    /// `√(1 − β₂ᵗ)`.
    pub bc2_sqrt: f32,
    /// `1 − lr · weight_decay`.
    pub decay: f32,
    pub b1: f32,
    pub b2: f32,
    pub eps: f32,
}

impl StepScalars {
    /// The scalars of step `step` with learning rate `lr`.
    pub fn new(hp: &AdamWParams, lr: f64, step: u64) -> Self {
        let t = step as i32;
        let (b1, b2) = (hp.betas[0], hp.betas[1]);
        Self {
            step_size: (lr / (1.0 - b1.powi(t))) as f32,
            bc2_sqrt: (1.0 - b2.powi(t)).sqrt() as f32,
            decay: (1.0 - lr * hp.weight_decay) as f32,
            b1: b1 as f32,
            b2: b2 as f32,
            eps: hp.eps as f32,
        }
    }
}

/// Optimizer state: the step count and the moments, keyed by tensor name.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AdamWState {
    /// Optimizer steps taken.
    pub step: u64,
    /// Moments by tensor name.
    pub moments: BTreeMap<String, Moments>,
}

impl AdamWState {
    /// One AdamW update of every tensor in `params` with its gradient in `grads` (same names).
    pub fn step(
        &mut self,
        hp: &AdamWParams,
        lr: f64,
        params: &mut BTreeMap<String, Vec<f32>>,
        grads: &BTreeMap<String, Vec<f32>>,
    ) {
        self.step += 1;
        let StepScalars {
            step_size,
            bc2_sqrt,
            decay,
            b1: b1f,
            b2: b2f,
            eps,
        } = StepScalars::new(hp, lr, self.step);
        for (name, p) in params.iter_mut() {
            let Some(g) = grads.get(name) else { continue };
            let st = self.moments.entry(name.clone()).or_insert_with(|| Moments {
                m: vec![0.0; p.len()],
                v: vec![0.0; p.len()],
            });
            for i in 0..p.len() {
                let gi = g[i];
                if hp.weight_decay != 0.0 {
                    p[i] *= decay;
                }
                st.m[i] = st.m[i] * b1f + (1.0 - b1f) * gi;
                st.v[i] = st.v[i] * b2f + (1.0 - b2f) * gi * gi;
                let denom = st.v[i].sqrt() / bc2_sqrt + eps;
                p[i] -= step_size * st.m[i] / denom;
            }
        }
    }
}

/// The global L2 norm of all gradients (accumulated in f64, in name order).
pub fn global_norm(grads: &BTreeMap<String, Vec<f32>>) -> f64 {
    grads
        .values()
        .flat_map(|g| g.iter())
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt()
}

/// Scales every gradient by `max_norm / (norm + 1e-6)` when the global norm exceeds `max_norm`
/// (`max_norm` 0 = off). Returns the norm before clipping.
pub fn clip_global_norm(grads: &mut BTreeMap<String, Vec<f32>>, max_norm: f64) -> f64 {
    let norm = global_norm(grads);
    if max_norm > 0.0 {
        let coef = max_norm / (norm + 1e-6);
        if coef < 1.0 {
            let c = coef as f32;
            grads
                .values_mut()
                .flat_map(|g| g.iter_mut())
                .for_each(|x| *x *= c);
        }
    }
    norm
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(name: &str, v: Vec<f32>) -> BTreeMap<String, Vec<f32>> {
        BTreeMap::from([(name.to_string(), v)])
    }

    /// Hand-computed: the first bias-corrected Adam step is lr·g/(|g| + eps) ≈ lr·sign(g); weight
    /// decay first shrinks p by (1 − lr·wd). p = [1, −2], g = [0.5, −4], lr 0.1, wd 0.5:
    /// p·0.95 = [0.95, −1.9]; minus 0.1·sign(g) → [0.85, −1.8].
    #[test]
    fn first_step_is_lr_times_sign_after_decay() {
        let hp = AdamWParams {
            betas: [0.9, 0.999],
            eps: 1e-8,
            weight_decay: 0.5,
        };
        let mut st = AdamWState::default();
        let mut p = one("w", vec![1.0, -2.0]);
        st.step(&hp, 0.1, &mut p, &one("w", vec![0.5, -4.0]));
        assert!((p["w"][0] - 0.85).abs() < 1e-6, "{p:?}");
        assert!((p["w"][1] + 1.8).abs() < 1e-6, "{p:?}");
        // second step, hand-computed with g = [0.5, −4] again and wd 0:
        // m = 0.19·g/… : m₂ = 0.9·0.05 + 0.1·0.5 = 0.095, v₂ = 0.999·0.00025 + 0.001·0.25 = 0.00049975
        // m̂ = 0.095/0.19 = 0.5, v̂ = 0.00049975/0.001999 = 0.25 → step 0.1·0.5/0.5 = 0.1
        let hp0 = AdamWParams {
            weight_decay: 0.0,
            ..hp
        };
        st.step(&hp0, 0.1, &mut p, &one("w", vec![0.5, -4.0]));
        assert!((p["w"][0] - 0.75).abs() < 1e-5, "{p:?}");
    }

    /// Norm of [3, 4] and [12] is 13; clipping to 6.5 halves every value (up to the 1e-6 guard).
    #[test]
    fn clipping_uses_one_global_norm() {
        let mut g = BTreeMap::from([
            ("a".to_string(), vec![3.0, 4.0]),
            ("b".to_string(), vec![12.0]),
        ]);
        let n = clip_global_norm(&mut g, 6.5);
        assert!((n - 13.0).abs() < 1e-12);
        assert!((g["a"][0] - 1.5).abs() < 1e-5 && (g["b"][0] - 6.0).abs() < 1e-5);
        let mut small = g.clone();
        clip_global_norm(&mut small, 100.0);
        assert_eq!(small, g);
    }
}
