//! `finefail finetune`: LoRA supervised fine-tuning of a base model on the first N training
//! questions of a prepared dataset for one seed.

use clap::Args;
use std::path::PathBuf;

/// Arguments of `finefail finetune`.
#[derive(Args)]
pub struct FinetuneArgs {
    /// A directory written by `finefail data prepare`.
    #[arg(long)]
    pub data: PathBuf,
    /// Training subset size N (the first N of the seed's order).
    #[arg(long)]
    pub size: usize,
    /// Training seed (subset order, adapter init, dropout, shuffling).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The base model (Hugging Face checkpoint directory).
    #[arg(long)]
    pub model: PathBuf,
    /// Output directory: adapter/, metrics.jsonl, train_summary.json, checkpoints/.
    #[arg(long)]
    pub out: PathBuf,
    /// qa (question → answer) or rag (question + retrieved chunks → answer; needs --retrieval).
    #[arg(long, default_value = "qa")]
    pub format: String,
    /// A retrieval directory (for --format rag).
    #[arg(long)]
    pub retrieval: Option<PathBuf>,
    /// Continue from the last checkpoint in OUT/checkpoints/.
    #[arg(long)]
    pub resume: bool,
    /// Override train.* or lora.* settings: `--set train.epochs=1 --set lora.r=8`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// cpu | cuda:N | tch-cpu | tch-cuda:N
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

/// Runs `finefail finetune`.
pub fn run(args: FinetuneArgs) -> anyhow::Result<()> {
    let _ = args;
    anyhow::bail!("`finefail finetune` is not available yet (issue 4: the fine-tuning crate is being built)")
}
