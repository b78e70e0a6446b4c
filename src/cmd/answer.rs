//! `finefail answer`: one arm's answers to a prepared dataset's test set.

use crate::cmd::precision::PrecisionArgs;
use crate::exit::BadInput;
use clap::Args;
use finefail_core::files;
use finefail_model::chat_model::ChatModel;
use finefail_model::device::parse_device;
use finefail_model::sampling::SamplingConfig;
use finefail_rag::answering::{answer_test_set, AnswerContext, AnswerOptions};
use std::path::PathBuf;

/// Arguments of `finefail answer`.
#[derive(Args)]
pub struct AnswerArgs {
    /// A directory written by `finefail data prepare`.
    #[arg(long)]
    data: PathBuf,
    /// The dataset's retrieval directory (needed for --context retrieved).
    #[arg(long)]
    retrieval: Option<PathBuf>,
    /// The base model (Hugging Face checkpoint directory).
    #[arg(long)]
    model: PathBuf,
    /// A PEFT adapter directory (fine-tuned arms).
    #[arg(long)]
    adapter: Option<PathBuf>,
    /// Arm name: DATASET/MODEL/nN[/sSEED][@none|@gold].
    #[arg(long)]
    arm: String,
    /// Output directory: answers.parquet (and parts/ while running).
    #[arg(long)]
    out: PathBuf,
    /// retrieved | none | gold
    #[arg(long, default_value_t = AnswerContext::Retrieved)]
    context: AnswerContext,
    #[arg(long, default_value_t = 3)]
    top_k: usize,
    #[arg(long, default_value_t = 64)]
    max_new_tokens: usize,
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    #[arg(long, default_value_t = 0.0)]
    temperature: f32,
    #[arg(long, default_value_t = 1.0)]
    top_p: f32,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// cpu | cuda:N | tch-cpu | tch-cuda:N
    #[arg(long, default_value = "cpu")]
    device: String,
    #[command(flatten)]
    precision: PrecisionArgs,
}

/// Runs `finefail answer`.
pub fn run(a: AnswerArgs) -> anyhow::Result<()> {
    let context = a.context;
    finefail_rag::answering::check_arm(&a.arm, context).map_err(BadInput)?;
    let precision = a.precision.resolve(&a.device, &a.model)?;
    let device = parse_device(&a.device)?;
    // Ctrl-C / SIGTERM: stop after the running batch; answered batches stay as parts.
    crate::interrupt::install();
    let display = crate::progress::Display::new();
    let task = display.task("answer");
    task.stage("loading the model");
    let model = ChatModel::load_with(&a.model, a.adapter.as_deref(), &device, precision)?;
    let opts = AnswerOptions {
        arm: a.arm.clone(),
        context,
        top_k: a.top_k,
        max_new_tokens: a.max_new_tokens,
        sampling: SamplingConfig {
            temperature: a.temperature,
            top_p: a.top_p,
            seed: a.seed,
        },
        batch_size: a.batch_size,
        stop: finefail_core::StopFlag::process(),
        demonstrations: None,
    };
    let started = std::time::Instant::now();
    let n = answer_test_set(
        &model,
        &a.data,
        a.retrieval.as_deref(),
        &opts,
        &a.out,
        &mut |done, total| task.update(done as u64, Some(total as u64), "questions", ""),
    );
    task.finish();
    drop(display);
    let n = n?;
    eprintln!(
        "answered {n} questions as {} in {:.1} s → {}",
        a.arm,
        started.elapsed().as_secs_f64(),
        a.out.join(files::ANSWERS).display()
    );
    Ok(())
}
