//! `finefail finetune`: LoRA supervised fine-tuning of a base model on the first N training
//! questions of a prepared dataset for one seed.

use crate::cmd::precision::PrecisionArgs;
use clap::Args;
use finefail_core::files;
use finefail_train::{finetune, Event, FinetuneRequest, FinetuneSettings};
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
    /// qa (question → answer), rag (question + retrieved chunks → answer; needs --retrieval) or
    /// raft (gold passage + distractors, the gold left out of some examples; --retrieval gives
    /// hard negatives, else the distractors are random).
    #[arg(long, default_value = "qa")]
    pub format: String,
    /// A retrieval directory (for --format rag and raft).
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
    #[command(flatten)]
    pub precision: PrecisionArgs,
}

/// Runs `finefail finetune`: builds the request from the flags (`--format` first, then every
/// `--set` in order), draws a progress bar from the recipe's events, prints a one-line summary.
pub fn run(args: FinetuneArgs) -> anyhow::Result<()> {
    let mut settings = FinetuneSettings::default();
    settings.train.format = args.format.parse()?;
    for assignment in &args.set {
        settings.apply_set(assignment)?;
    }
    let mut req = FinetuneRequest::new(&args.data, args.size, args.seed, &args.model, &args.out);
    req.retrieval_dir = args.retrieval;
    // Ctrl-C / SIGTERM: stop after the running optimizer step, checkpointed (`--resume` goes on).
    crate::interrupt::install();
    req.resume = args.resume;
    req.device = args.device;
    req.precision = args.precision.parse()?;
    req.settings = settings;

    let display = crate::progress::Display::new();
    let task = display.task("finetune");
    task.stage("loading the model and the examples");
    let (mut total, mut last_val) = (0u64, String::new());
    let summary = finetune(&req, &mut |event| match event {
        Event::Started {
            total_steps,
            start_step,
            ..
        } => {
            total = *total_steps as u64;
            task.update(*start_step as u64, Some(total), "steps", "");
        }
        Event::Step(m) => {
            let note = format!(
                "loss {:.4} lr {:.2e} {:.0} tok/s{last_val}",
                m.loss, m.lr, m.tokens_per_s
            );
            task.update(m.step as u64, Some(total), "steps", &note);
        }
        Event::Eval { val_loss, .. } => last_val = format!(" val {val_loss:.4}"),
        Event::Checkpoint { .. } => {}
    });
    task.finish();
    drop(display);
    let summary = summary?;
    println!(
        "finetuned {} examples, {} steps, {} tokens in {:.1}s; final loss {}, best val loss {}; adapter ({}) at {}",
        summary.examples,
        summary.steps,
        summary.tokens,
        summary.wall_time_s,
        summary.final_loss.map_or("-".into(), |l| format!("{l:.4}")),
        summary.best_val_loss.map_or("-".into(), |l| format!("{l:.4}")),
        summary.kept,
        req.out_dir.join(files::ADAPTER_DIR).display()
    );
    Ok(())
}
