//! `finefail generate`: one prompt answered by a model (chat template applied), printing only the
//! answer.

use crate::cmd::precision::PrecisionArgs;
use crate::exit::BadInput;
use clap::Args;
use finefail_model::chat::ChatMessage;
use finefail_model::chat_model::ChatModel;
use finefail_model::device::parse_device;
use finefail_model::sampling::SamplingConfig;
use std::path::PathBuf;

/// Arguments of `finefail generate`.
#[derive(Args)]
pub struct GenerateArgs {
    #[arg(long)]
    pub model: PathBuf,
    #[arg(long)]
    pub adapter: Option<PathBuf>,
    #[arg(long)]
    pub system: Option<String>,
    #[arg(long)]
    pub prompt: String,
    #[arg(long, default_value_t = 64)]
    pub max_new_tokens: usize,
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f32,
    #[arg(long, default_value_t = 1.0)]
    pub top_p: f32,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// cpu | cuda:N | tch-cpu | tch-cuda:N
    #[arg(long, default_value = "cpu")]
    pub device: String,
    #[command(flatten)]
    pub precision: PrecisionArgs,
}

/// Runs `finefail generate`.
pub fn run(args: GenerateArgs) -> anyhow::Result<()> {
    if !(args.temperature >= 0.0 && args.temperature.is_finite()) {
        return Err(BadInput(format!(
            "--temperature must be >= 0, got {}",
            args.temperature
        ))
        .into());
    }
    if !(args.top_p > 0.0 && args.top_p <= 1.0) {
        return Err(BadInput(format!("--top-p must be in (0, 1], got {}", args.top_p)).into());
    }
    let precision = args.precision.resolve(&args.device, &args.model)?;
    let device = parse_device(&args.device)?;
    let chat = ChatModel::load_with(&args.model, args.adapter.as_deref(), &device, precision)?;
    let mut messages = Vec::new();
    if let Some(system) = &args.system {
        messages.push(ChatMessage::new("system", system.as_str()));
    }
    messages.push(ChatMessage::new("user", args.prompt.as_str()));
    let sampling = SamplingConfig {
        temperature: args.temperature,
        top_p: args.top_p,
        seed: args.seed,
    };
    let config = chat.generation_config(args.max_new_tokens, sampling);
    let answer = chat.answer(&[messages], &config)?;
    let text = answer.first().map(|g| g.text.trim()).unwrap_or_default();
    println!("{text}");
    Ok(())
}
