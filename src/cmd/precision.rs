//! `--dtype`, `--quantize` and `--compute-dtype`, shared by every command that loads a model
//! (generate, model logits, finetune, answer, bench): how the frozen base is stored on the device
//! and which dtype its projections multiply in.

use clap::Args;
use finefail_model::device::DeviceSpec;
use finefail_model::precision::Precision;
use std::path::Path;

/// The precision flags, flattened into each model-loading command.
#[derive(Args, Debug, Clone)]
pub struct PrecisionArgs {
    /// Storage dtype of the frozen base: auto (the checkpoint's on a GPU, f32 on a CPU), f32, bf16
    /// or f16. LoRA, optimizer state and the loss stay f32.
    #[arg(long, default_value = "auto")]
    pub dtype: String,
    /// Store the frozen projections quantized: none, int8 (per-channel absmax) or nf4 (QLoRA's
    /// 4-bit NormalFloat, blocks of 64).
    #[arg(long, default_value = "none")]
    pub quantize: String,
    /// The dtype the frozen projections multiply in: auto (the base's 16-bit dtype on a GPU, f32 on
    /// a CPU), f32, bf16 or f16. Norms, attention, LoRA and the loss stay f32.
    #[arg(long, default_value = "auto")]
    pub compute_dtype: String,
}

impl PrecisionArgs {
    /// The parsed options, unresolved (for requests resolved later, by the recipe).
    pub fn parse(&self) -> anyhow::Result<Precision> {
        Ok(Precision::parse(&self.dtype, &self.quantize)?.with_compute(&self.compute_dtype)?)
    }

    /// The options resolved for `device` and the checkpoint in `model_dir`.
    pub fn resolve(&self, device: &str, model_dir: &Path) -> anyhow::Result<Precision> {
        let spec = DeviceSpec::parse(device)?;
        Ok(self.parse()?.resolve_for_checkpoint(spec, model_dir)?)
    }
}
