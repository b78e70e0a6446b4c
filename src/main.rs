//! `finefail`: the command-line front of the finefail workspace.
//!
//! Kept thin on purpose: argument parsing (clap), progress bars (indicatif), one-line errors and exit
//! codes live here; all the work happens in the `finefail-*` library crates.

mod cmd;
mod exit;
mod interrupt;
mod progress;

use clap::{Parser, Subcommand};

/// Does LoRA fine-tuning on N question-answer pairs help or hurt your RAG pipeline, and at which N?
#[derive(Parser)]
#[command(name = "finefail", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Import QA datasets into canonical tables, inspect them.
    #[command(subcommand)]
    Data(cmd::data::DataCommand),
    /// Convert, inspect and probe model checkpoints.
    #[command(subcommand)]
    Model(cmd::model::ModelCommand),
    /// Answer one prompt with a model (chat template applied), printing only the answer.
    Generate(cmd::generate::GenerateArgs),
    /// LoRA-fine-tune a base model on the first N training questions of a prepared dataset.
    Finetune(cmd::finetune::FinetuneArgs),
    /// Retrieve the top-k chunks for every question of a prepared dataset (once, shared by all arms).
    Retrieve(cmd::retrieve::RetrieveArgs),
    /// Answer a dataset's test set with one arm (base model, or base + adapter).
    Answer(cmd::answer::AnswerArgs),
    /// Score answers (metrics, optional LLM judge) and compare every arm with its base arm.
    Score(cmd::score::ScoreArgs),
    /// Plan or run a whole experiment from a TOML config.
    Run(cmd::run::RunArgs),
    /// Speed and memory benchmarks (training step, generation) on a real checkpoint.
    #[command(subcommand)]
    Bench(cmd::bench::BenchCommand),
    /// Run one step of an experiment's plan (used by the Slurm executor).
    #[command(hide = true)]
    Step(cmd::step::StepArgs),
}

/// glibc's default malloc returns big blocks to the OS after every training step and takes them
/// back (page clearing) on the next: keeping them measured 46 → 37 s per plain LoRA step. Set in
/// code so nobody has to remember an environment variable.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_TOP_PAD, 1 << 30);
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

fn main() {
    tune_allocator();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Data(c) => cmd::data::run(c),
        Command::Model(c) => cmd::model::run(c),
        Command::Generate(a) => cmd::generate::run(a),
        Command::Run(a) => cmd::run::run(a),
        Command::Step(a) => cmd::step::run(a),
        Command::Score(a) => cmd::score::run(a),
        Command::Retrieve(a) => cmd::retrieve::run(a),
        Command::Answer(a) => cmd::answer::run(a),
        Command::Finetune(a) => cmd::finetune::run(a),
        Command::Bench(c) => cmd::bench::run(c),
    };
    if let Err(err) = result {
        // A run stopped by Ctrl-C is no error: its own line says what finished and how to go on.
        match (
            interrupt::interruption(&err),
            interrupt::standalone_stop(&err),
        ) {
            (Some(line), _) => eprintln!("{line}"),
            (None, Some(line)) => eprintln!("{line}"),
            (None, None) => eprintln!("error: {}", exit::one_line(&err)),
        }
        std::process::exit(exit::code(&err));
    }
}
