//! `finefail model …`: convert, inspect and probe model checkpoints.

use crate::cmd::precision::PrecisionArgs;
use crate::exit::BadInput;
use anyhow::Context;
use clap::Subcommand;
use finefail_model::chat::ChatTemplate;
use finefail_model::chat_model::check_vocab;
use finefail_model::config::ModelConfig;
use finefail_model::convert::{convert_gguf_with_progress, OutDtype};
use finefail_model::device::parse_device;
use finefail_model::gguf::GgufFile;
use finefail_model::llama::Llama;
use finefail_model::memory::{estimate, gb, weight_bytes, Kernels, Workload};
use finefail_model::peft::load_adapter;
use finefail_model::precision::{Precision, WeightDtype};
use finefail_model::tokenizer::Tokenizer;
use finefail_model::weights::{write_npy_f32, Checkpoint};
use std::path::{Path, PathBuf};

/// `finefail model` subcommands.
#[derive(Subcommand)]
pub enum ModelCommand {
    /// Convert a GGUF file into a Hugging Face checkpoint directory.
    Convert {
        /// The GGUF file to read.
        #[arg(long)]
        gguf: PathBuf,
        /// The directory to write (config.json, model.safetensors, tokenizer files).
        #[arg(long)]
        out: PathBuf,
        /// Storage dtype of model.safetensors: bf16 | f16 | f32 (f32 keeps every dequantized value
        /// exactly; the default model is converted in f32).
        #[arg(long, default_value = "bf16")]
        dtype: String,
    },
    /// Print architecture, parameter count, dtype, tokenizer and chat template of a checkpoint;
    /// for a GGUF file, its architecture and every tensor type it stores (decoded or not).
    Info {
        /// A Hugging Face checkpoint directory, or a `.gguf` file.
        dir: PathBuf,
        /// Also print the memory plan: the estimated peak of a fine-tune and an answer step for
        /// each storage format, with and without activation checkpointing.
        #[arg(long)]
        memory: bool,
        #[command(flatten)]
        plan: MemoryArgs,
    },
    /// Write the raw logits of every position of TEXT as a float32 .npy [tokens, vocab].
    Logits {
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        adapter: Option<PathBuf>,
        #[arg(long)]
        text: String,
        #[arg(long)]
        out: PathBuf,
        /// cpu | cuda:N | tch-cpu | tch-cuda:N
        #[arg(long, default_value = "cpu")]
        device: String,
        #[command(flatten)]
        precision: PrecisionArgs,
        /// Logits for each of these compute dtypes (e.g. `f32,bf16`) from one load of the model:
        /// `--out` must contain `{compute}`, replaced by each dtype's name. Instead of
        /// `--compute-dtype`.
        #[arg(long, value_delimiter = ',', conflicts_with = "compute_dtype")]
        compute_dtypes: Vec<String>,
    },
}

/// Runs a `finefail model` subcommand.
pub fn run(command: ModelCommand) -> anyhow::Result<()> {
    match command {
        ModelCommand::Convert { gguf, out, dtype } => convert(&gguf, &out, &dtype),
        ModelCommand::Info { dir, memory, plan } => {
            info(&dir)?;
            if memory {
                memory_table(&ModelConfig::from_dir(&dir)?, &plan)?;
            }
            Ok(())
        }
        ModelCommand::Logits {
            model,
            adapter,
            text,
            out,
            device,
            mut precision,
            compute_dtypes,
        } => {
            // Every output's precision resolved (and checked) before the model is loaded.
            let mut outputs = Vec::new();
            for (compute, path) in logits_outputs(&out, &compute_dtypes)? {
                if let Some(c) = compute {
                    precision.compute_dtype = c;
                }
                outputs.push((precision.resolve(&device, &model)?, path));
            }
            logits(&model, adapter.as_deref(), &text, &outputs, &device)
        }
    }
}

fn convert(gguf: &Path, out: &Path, dtype: &str) -> anyhow::Result<()> {
    let dtype: OutDtype = dtype
        .parse()
        .map_err(|e: String| BadInput(format!("--dtype: {e}")))?;
    let display = crate::progress::Display::new();
    let task = display.task("model convert");
    task.stage("reading the GGUF header");
    let s = convert_gguf_with_progress(gguf, out, dtype, &mut |done, total| {
        task.update(done as u64, Some(total as u64), "tensors", "")
    });
    task.finish();
    drop(display);
    let s = s?;
    println!(
        "wrote {}: {} ({} tensors, {} parameters in {}, vocab {}, {} embeddings, {:.1} MB)",
        s.out.display(),
        s.architecture,
        s.n_tensors,
        s.n_params,
        s.dtype.name(),
        s.vocab_size,
        if s.tied_embeddings { "tied" } else { "untied" },
        s.safetensors_bytes as f64 / 1e6
    );
    Ok(())
}

/// `model info FILE.gguf`: the file's architecture and every tensor type it stores, each marked
/// decoded or not (what `model convert --gguf` will do with it).
fn gguf_info(path: &Path) -> anyhow::Result<()> {
    let file = GgufFile::open(path)?;
    let arch = file
        .get("general.architecture")
        .and_then(|v| v.as_str())
        .unwrap_or("-");
    println!("gguf: version {}, architecture {arch}", file.version());
    if let Some(name) = file.get("general.name").and_then(|v| v.as_str()) {
        println!("name: {name}");
    }
    let census = file.type_census();
    let total: usize = census.iter().map(|c| c.tensors).sum();
    println!("tensors: {total}");
    for c in &census {
        println!(
            "  {:<8} {:>5} tensors {:>13} weights  {}",
            c.dtype.name(),
            c.tensors,
            c.elements,
            if c.dtype.is_decoded() {
                "decoded"
            } else {
                "not decoded: `model convert --gguf` refuses this file"
            }
        );
    }
    Ok(())
}

fn info(dir: &Path) -> anyhow::Result<()> {
    if dir.is_file()
        && dir
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
    {
        return gguf_info(dir);
    }
    let config = ModelConfig::from_dir(dir)?;
    let checkpoint = Checkpoint::open_dir(dir)?;
    let dtypes: Vec<String> = checkpoint
        .dtypes()
        .into_iter()
        .map(|(d, n)| format!("{d} ({n} tensors)"))
        .collect();
    println!("architecture: {}", config.architecture.as_str());
    println!("parameters: {}", config.parameter_count());
    println!(
        "layers: {}, hidden: {}, heads: {} ({} kv), head dim: {}, ffn: {}",
        config.num_hidden_layers,
        config.hidden_size,
        config.num_attention_heads,
        config.num_key_value_heads,
        config.head_dim,
        config.intermediate_size
    );
    if let Some(moe) = config.moe {
        println!(
            "experts: {} ({} per token)",
            moe.num_experts, moe.experts_per_token
        );
    }
    println!(
        "vocab: {}, tied embeddings: {}",
        config.vocab_size, config.tie_word_embeddings
    );
    println!(
        "rope theta: {}, scaling: {:?}",
        config.rope_theta, config.rope_scaling
    );
    println!(
        "dtype: {} (declared: {})",
        dtypes.join(", "),
        config.torch_dtype.as_deref().unwrap_or("-")
    );
    match Tokenizer::from_dir(dir) {
        Ok(t) => println!(
            "tokenizer: {} tokens, eos {:?}, pad {}",
            t.vocab_size(),
            t.eos_token_ids(),
            t.pad_token_id()
        ),
        Err(e) => println!("tokenizer: none ({e})"),
    }
    match ChatTemplate::from_dir(dir) {
        Ok(t) => println!(
            "chat template: {} characters, stop strings {:?}",
            t.source().len(),
            t.stop_strings()
        ),
        Err(e) => println!("chat template: none ({e})"),
    }
    Ok(())
}

/// The files `model logits` writes: `out` as given (the compute dtype of `--compute-dtype`,
/// `None`), or one per entry of `--compute-dtypes` with `{compute}` in `out` replaced by its name.
fn logits_outputs(
    out: &Path,
    compute_dtypes: &[String],
) -> anyhow::Result<Vec<(Option<String>, PathBuf)>> {
    if compute_dtypes.is_empty() {
        return Ok(vec![(None, out.to_path_buf())]);
    }
    let pattern = out.to_string_lossy();
    if !pattern.contains("{compute}") {
        return Err(BadInput(format!(
            "--out {pattern}: with --compute-dtypes it must contain {{compute}} (one file per dtype)"
        ))
        .into());
    }
    let mut outputs: Vec<(Option<String>, PathBuf)> = Vec::new();
    for c in compute_dtypes {
        WeightDtype::parse_option(c, "--compute-dtypes")?;
        if outputs.iter().any(|(seen, _)| seen.as_ref() == Some(c)) {
            return Err(BadInput(format!("--compute-dtypes names {c} twice")).into());
        }
        outputs.push((
            Some(c.clone()),
            PathBuf::from(pattern.replace("{compute}", c)),
        ));
    }
    Ok(outputs)
}

fn logits(
    dir: &Path,
    adapter: Option<&Path>,
    text: &str,
    outputs: &[(Precision, PathBuf)],
    device: &str,
) -> anyhow::Result<()> {
    let device = parse_device(device)?;
    let tokenizer = Tokenizer::from_dir(dir)?;
    let (first, _) = outputs.first().context("no logits to write")?;
    let mut model = Llama::load_with(dir, &device, *first)?;
    check_vocab(&model, &tokenizer, dir)?;
    if let Some(adapter) = adapter {
        load_adapter(&mut model, adapter)?;
    }
    let ids = tokenizer.encode(text, true)?;
    if ids.is_empty() {
        return Err(BadInput("--text encodes to no tokens".into()).into());
    }
    for (precision, out) in outputs {
        // Outputs differ in their compute dtype only (the storage is the first's).
        model.set_compute_dtype(precision.compute_dtype());
        let values = model.logits_of_ids(&ids)?;
        write_npy_f32(out, &[ids.len(), model.config().vocab_size], &values)?;
    }
    println!(
        "{}",
        ids.iter().map(u32::to_string).collect::<Vec<_>>().join(" ")
    );
    Ok(())
}

/// The workload `model info --memory` plans for (defaults: the config defaults of `[train]`,
/// `[lora]` and `[generation]`).
#[derive(clap::Args, Debug, Clone)]
pub struct MemoryArgs {
    /// Device the plan is for (a GPU adds its framework's overhead; auto dtype follows it).
    #[arg(long = "plan-device", default_value = "cpu")]
    device: String,
    /// Sequences per training forward pass.
    #[arg(long, default_value_t = 8)]
    micro_batch: usize,
    /// Tokens per training sequence.
    #[arg(long, default_value_t = 512)]
    seq_len: usize,
    /// LoRA rank.
    #[arg(long, default_value_t = 16)]
    lora_r: usize,
    /// Projections carrying adapters.
    #[arg(long, default_value_t = 4)]
    lora_targets: usize,
    /// Questions answered together.
    #[arg(long, default_value_t = 8)]
    answer_batch: usize,
    /// Prompt tokens per question.
    #[arg(long, default_value_t = 1024)]
    prompt_len: usize,
    /// New tokens per answer.
    #[arg(long, default_value_t = 64)]
    new_tokens: usize,
}

/// Prints the memory plan of `config` for every storage format.
fn memory_table(config: &ModelConfig, a: &MemoryArgs) -> anyhow::Result<()> {
    let spec = finefail_model::device::DeviceSpec::parse(&a.device)?;
    let gpu = matches!(
        spec,
        finefail_model::device::DeviceSpec::Cuda(_)
            | finefail_model::device::DeviceSpec::TchCuda(_)
    );
    let kernels = Kernels::of(spec);
    println!(
        "memory plan (estimates, device {}): fine-tune micro-batch {} × {} tokens, LoRA r {} on {} \
         projections; answer {} × ({} + {}) tokens",
        a.device, a.micro_batch, a.seq_len, a.lora_r, a.lora_targets, a.answer_batch,
        a.prompt_len, a.new_tokens
    );
    println!(
        "  {:<14} {:>10} {:>12} {:>24} {:>10}",
        "storage", "weights", "fine-tune", "fine-tune (checkpointing)", "answer"
    );
    for (d, q) in [
        ("f32", "none"),
        ("bf16", "none"),
        ("f32", "int8"),
        ("f32", "nf4"),
        ("bf16", "nf4"),
    ] {
        let p = Precision::parse(d, q)?.resolve(spec, None)?;
        let train = |ck| Workload::Train {
            micro_batch: a.micro_batch,
            seq_len: a.seq_len,
            r: a.lora_r,
            targets: a.lora_targets,
            checkpointing: ck,
        };
        let answer = Workload::Answer {
            batch: a.answer_batch,
            prompt_len: a.prompt_len,
            new_tokens: a.new_tokens,
        };
        println!(
            "  {:<14} {:>10} {:>12} {:>24} {:>10}",
            p.to_string(),
            gb(weight_bytes(config, p)),
            gb(estimate(config, p, train(false), kernels, gpu).total()),
            gb(estimate(config, p, train(true), kernels, gpu).total()),
            gb(estimate(config, p, answer, kernels, gpu).total())
        );
    }
    Ok(())
}
