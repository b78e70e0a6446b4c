//! The recipe's safe point between two optimizer steps: where a checkpoint may be written besides
//! the scheduled ones (once a minute of training, [`crate::FinetuneRequest::checkpoint_interval`])
//! and where a stop request ([`crate::FinetuneRequest::stop`]: Ctrl-C, SIGTERM) ends the run —
//! after checkpointing the last finished step, so that a resume continues from it.
//!
//! A checkpoint holds everything the next step depends on (adapter, AdamW moments, the loop's
//! state, the shuffling RNG), so writing one at any step changes no number: a run stopped and
//! resumed here ends bit-identical to one that never stopped.

use crate::checkpoint;
use crate::error::{Result, TrainError};
use crate::optimizer::Optimizer;
use crate::request::{Event, FinetuneRequest};
use crate::state::LoopState;
use finefail_core::StopFlag;
use finefail_model::llama::Llama;
use finefail_model::peft::AdapterConfig;
use std::path::Path;
use std::time::{Duration, Instant};

/// What the loop checks between steps: the stop flag, and the time and step of the last
/// checkpoint.
pub struct SafePoint {
    stop: StopFlag,
    interval: Option<Duration>,
    last_write: Instant,
    saved_step: Option<usize>,
}

/// What [`SafePoint::write`] needs to write a checkpoint of the current step.
pub struct CheckpointParts<'a> {
    /// `OUT/checkpoints/`.
    pub root: &'a Path,
    /// The model with its current adapter.
    pub model: &'a Llama,
    /// The adapter's PEFT config.
    pub adapter_cfg: &'a AdapterConfig,
    /// The optimizer (its moments are read back from the device, on the device path, only when
    /// a checkpoint is written: the checkpoint holds the host form either way).
    pub adam: &'a Optimizer,
    /// The loop's state after the step.
    pub state: &'a LoopState,
}

impl SafePoint {
    /// The safe point of a run about to start at `state.step` (a resumed run's step is its
    /// checkpoint's, so it is not written again).
    pub fn new(req: &FinetuneRequest, state: &LoopState) -> Self {
        Self {
            stop: req.stop.clone(),
            interval: req.checkpoint_interval,
            last_write: Instant::now(),
            saved_step: (state.step > 0).then_some(state.step),
        }
    }

    /// True when the last checkpoint is older than the interval: write one now.
    pub fn time_due(&self) -> bool {
        self.interval
            .is_some_and(|every| self.last_write.elapsed() >= every)
    }

    /// Writes the checkpoint of the current step (and drops the best adapters it no longer refers
    /// to), then tells `progress`.
    pub fn write(
        &mut self,
        parts: &CheckpointParts,
        progress: &mut dyn FnMut(&Event),
    ) -> Result<()> {
        let st = parts.state;
        let adam = parts.adam.host_state()?;
        checkpoint::save(parts.root, parts.model, parts.adapter_cfg, &adam, st)?;
        checkpoint::prune_best(parts.root, st.best_val.map(|b| b.1))?;
        self.last_write = Instant::now();
        self.saved_step = Some(st.step);
        progress(&Event::Checkpoint { step: st.step });
        Ok(())
    }

    /// When a stop was requested: checkpoints the current step unless it already is, and returns
    /// the [`TrainError::Stopped`] that ends the run. `None` while no stop is requested.
    pub fn stop_here(
        &mut self,
        parts: &CheckpointParts,
        total_steps: usize,
        progress: &mut dyn FnMut(&Event),
    ) -> Result<Option<TrainError>> {
        if !self.stop.requested() {
            return Ok(None);
        }
        let step = parts.state.step;
        if step > 0 && self.saved_step != Some(step) {
            self.write(parts, progress)?;
        }
        Ok(Some(TrainError::Stopped {
            step,
            total: total_steps,
        }))
    }
}
