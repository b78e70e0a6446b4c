//! The training loop's state between optimizer steps ([`LoopState`]): where the run is in its epoch's
//! batch plan, the shuffling RNG, early-stopping bookkeeping and running totals. It is plain data so
//! that a checkpoint can save it as `state.json` and a resumed run continues exactly where the killed
//! one stopped; its methods are the loop's state transitions.

use crate::batching::{plan_epoch, SHUFFLE_SALT};
use finefail_core::splitmix::SplitMix64;
use serde::{Deserialize, Serialize};

/// Everything besides tensors that a resumed run needs to continue exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoopState {
    /// Hash of settings, seed, examples and base model; a resume must match it.
    pub fingerprint: String,
    /// The settings (to explain a mismatch).
    pub settings: serde_json::Value,
    /// Optimizer steps done.
    pub step: usize,
    /// Epochs started (1 = in the first epoch).
    pub epoch: usize,
    /// Next batch of `plan` to run.
    pub cursor: usize,
    /// The current epoch's batches.
    pub plan: Vec<Vec<usize>>,
    /// Shuffling RNG state after drawing `plan`.
    pub rng_state: u64,
    /// Lowest validation loss so far, and the step it was measured at.
    pub best_val: Option<(f64, usize)>,
    /// Validations since the last improvement.
    pub bad_evals: usize,
    /// True once early stopping triggered.
    pub stopped_early: bool,
    /// Tokens (prompt + answer) processed.
    pub tokens: u64,
    /// Answer tokens (loss targets) processed.
    pub answer_tokens: u64,
    /// Training seconds before this process.
    pub elapsed_s: f64,
    /// Loss of the last step.
    pub last_loss: Option<f64>,
    /// Last validation loss.
    pub last_val: Option<f64>,
    /// Validation loss before the first optimizer step (measured only when the run validates;
    /// kept here so a resumed run still reports it). Left out of `state.json` when absent, so a
    /// run without validation writes the same state as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_val: Option<f64>,
}

impl LoopState {
    /// The state before the first step of a new run: no plan yet (the loop draws the first epoch's),
    /// the shuffling RNG seeded from the run's seed.
    pub fn fresh(fingerprint: &str, settings: &serde_json::Value, seed: u64) -> Self {
        Self {
            fingerprint: fingerprint.to_string(),
            settings: settings.clone(),
            step: 0,
            epoch: 0,
            cursor: 0,
            plan: Vec::new(),
            rng_state: SplitMix64::new(seed ^ SHUFFLE_SALT).state(),
            best_val: None,
            bad_evals: 0,
            stopped_early: false,
            tokens: 0,
            answer_tokens: 0,
            elapsed_s: 0.0,
            last_loss: None,
            last_val: None,
            initial_val: None,
        }
    }

    /// True when every batch of the current epoch's plan has run (also before the first epoch).
    pub fn epoch_done(&self) -> bool {
        self.cursor >= self.plan.len()
    }

    /// Starts the next epoch: its batch plan is drawn from the saved RNG state, so a resumed run
    /// draws the same plan as an uninterrupted one.
    pub fn next_epoch(&mut self, lengths: &[usize], batch_size: usize) {
        let mut rng = SplitMix64::new(self.rng_state);
        self.plan = plan_epoch(lengths, batch_size, &mut rng);
        self.rng_state = rng.state();
        self.cursor = 0;
        self.epoch += 1;
    }

    /// The example indices of the batch the next step trains on.
    pub fn next_batch(&self) -> &[usize] {
        &self.plan[self.cursor]
    }

    /// Counts one finished optimizer step and its totals (`train_summary.json` reports them).
    pub fn count_step(&mut self, tokens: usize, answer_tokens: usize, loss: f64) {
        self.step += 1;
        self.cursor += 1;
        self.tokens += tokens as u64;
        self.answer_tokens += answer_tokens as u64;
        self.last_loss = Some(loss);
    }

    /// Records a validation loss measured after the current step; returns true when it is the best
    /// so far. Both `keep = "best"` and early stopping (after `patience` validations without
    /// improvement) depend on it.
    pub fn record_validation(&mut self, val_loss: f64, patience: Option<usize>) -> bool {
        self.last_val = Some(val_loss);
        let better = self.best_val.is_none_or(|(b, _)| val_loss < b);
        if better {
            self.best_val = Some((val_loss, self.step));
            self.bad_evals = 0;
        } else {
            self.bad_evals += 1;
            if patience.is_some_and(|p| self.bad_evals >= p) {
                self.stopped_early = true;
            }
        }
        better
    }
}
