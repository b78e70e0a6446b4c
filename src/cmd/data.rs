//! `finefail data prepare | stats | show | export`.

use crate::exit::BadInput;
use anyhow::Context;
use clap::{Args, Subcommand};
use finefail_data::{
    load_stats, prepare, ChunkConfig, ChunkUnit, ColumnMap, Format, PrepareOptions, SplitConfig,
    SplitUnit,
};
use std::path::PathBuf;

/// `finefail data` subcommands.
#[derive(Subcommand)]
pub enum DataCommand {
    /// Import a dataset into DIR/{qa,corpus,chunks}.parquet, splits.json, contamination.json.
    Prepare(Box<PrepareArgs>),
    /// Print a prepared dataset's counts (questions, documents, chunks, splits, answer types).
    Stats {
        /// A directory written by `data prepare`.
        dir: PathBuf,
        /// One JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print one question with its answers and gold documents.
    Show {
        /// A directory written by `data prepare`.
        dir: PathBuf,
        /// The question id.
        #[arg(long)]
        id: String,
    },
    /// Write the N training examples of a seed as chat JSONL, for a hosted fine-tuning API.
    Export(ExportArgs),
}

/// Arguments of `finefail data export`: the examples `finefail finetune --data DIR --size N
/// --seed S` (format `qa`) trains on, so the same N can be fine-tuned elsewhere.
#[derive(Args)]
pub struct ExportArgs {
    /// chat-jsonl (the only export format: OpenAI fine-tuning `{"messages": [...]}` lines).
    #[arg(long, default_value = "chat-jsonl")]
    format: String,
    /// A directory written by `finefail data prepare`.
    #[arg(long)]
    data: PathBuf,
    /// Training subset size N (the first N of the seed's order, as `finetune --size`).
    #[arg(long)]
    size: usize,
    /// Training seed (as `finetune --seed`).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The file to write (replaced atomically).
    #[arg(long)]
    out: PathBuf,
    /// Write only `messages` on each line (no `id`, `context`, `label`), for providers that refuse other keys.
    #[arg(long)]
    messages_only: bool,
}

/// Arguments of `finefail data prepare`.
#[derive(Args)]
pub struct PrepareArgs {
    /// narrativeqa pubmedqa disflqa boolq squad bioasq nq qasper jsonl csv parquet chat-jsonl
    #[arg(long)]
    format: String,
    /// A file, or a folder holding the format's files.
    #[arg(long)]
    input: PathBuf,
    /// The directory to write (replaced atomically when it exists).
    #[arg(long)]
    out: PathBuf,
    /// Dataset name: the `dataset` column and id prefix (default: the format).
    #[arg(long)]
    name: Option<String>,
    /// Column mapping for jsonl/csv/parquet/chat-jsonl: KEY=COLUMN,… (keys id question answer context doc_id title label; chat-jsonl: context=system takes the system message).
    #[arg(long)]
    map: Option<String>,
    /// Questions in the test set (with --split-unit document: whole documents until reached).
    #[arg(long, default_value_t = 200)]
    test_size: usize,
    /// Questions in the validation set (default: 10 % of the rest, at most 100).
    #[arg(long)]
    val_size: Option<usize>,
    /// question | document
    #[arg(long, default_value = "question")]
    split_unit: String,
    /// Seed of the test/validation split.
    #[arg(long, default_value_t = 0)]
    split_seed: u64,
    /// Training seeds whose orders are written to splits.json (others are computed on demand).
    #[arg(long, default_value = "0", value_delimiter = ',')]
    seeds: Vec<u64>,
    /// chars | tokens (tokens of the embedder's tokenizer; needs --tokenizer)
    #[arg(long, default_value = "chars")]
    chunk_unit: String,
    #[arg(long, default_value_t = 1000)]
    chunk_size: usize,
    #[arg(long, default_value_t = 150)]
    chunk_overlap: usize,
    /// The embedder's tokenizer.json (or its folder), for --chunk-unit tokens.
    #[arg(long)]
    tokenizer: Option<PathBuf>,
}

/// Runs a `finefail data` subcommand.
pub fn run(command: DataCommand) -> anyhow::Result<()> {
    match command {
        DataCommand::Prepare(args) => run_prepare(*args),
        DataCommand::Stats { dir, json } => {
            let stats = load_stats(&dir)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&stats)?);
            } else {
                print_stats(&stats);
            }
            Ok(())
        }
        DataCommand::Show { dir, id } => show(&dir, &id),
        DataCommand::Export(args) => export(&args),
    }
}

fn run_prepare(a: PrepareArgs) -> anyhow::Result<()> {
    let format = Format::parse(&a.format).map_err(BadInput)?;
    let map = ColumnMap::parse(a.map.as_deref().unwrap_or("")).map_err(BadInput)?;
    let opts = PrepareOptions {
        format,
        input: a.input,
        out: a.out.clone(),
        name: a.name,
        map,
        split: SplitConfig {
            unit: SplitUnit::parse(&a.split_unit).map_err(BadInput)?,
            test_size: a.test_size,
            val_size: a.val_size,
            split_seed: a.split_seed,
            seeds: a.seeds,
        },
        chunking: ChunkConfig {
            unit: ChunkUnit::parse(&a.chunk_unit).map_err(BadInput)?,
            size: a.chunk_size,
            overlap: a.chunk_overlap,
        },
        tokenizer: a.tokenizer,
    };
    let display = crate::progress::Display::new();
    let task = display.task("data prepare");
    let stats = prepare(&opts, &mut |stage| task.stage(stage));
    task.finish();
    drop(display);
    let stats = stats?;
    eprintln!(
        "prepared {}: {} questions ({} test, {} val, {} for training) over {} documents, {} chunks → {}",
        stats.dataset,
        stats.questions,
        stats.test,
        stats.val,
        stats.train_available,
        stats.documents,
        stats.chunks,
        a.out.display()
    );
    if stats.dropped.duplicates + stats.dropped.unlabeled > 0 {
        eprintln!(
            "  dropped: {} duplicate questions merged, {} rows without a label",
            stats.dropped.duplicates, stats.dropped.unlabeled
        );
    }
    Ok(())
}

fn print_stats(s: &finefail_data::Stats) {
    println!("dataset          {} ({})", s.dataset, s.format);
    println!("rows read        {}", s.rows);
    println!(
        "questions        {} ({} unanswerable)",
        s.questions, s.unanswerable
    );
    let types: Vec<String> = s
        .answer_types
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    println!("answer types     {}", types.join(", "));
    println!("documents        {}", s.documents);
    println!(
        "chunks           {} ({:?}, size {}, overlap {})",
        s.chunks, s.chunking.unit, s.chunking.size, s.chunking.overlap
    );
    println!(
        "test / val       {} / {} (by {:?}, seed {})",
        s.test, s.val, s.split_unit, s.split_seed
    );
    println!("train available  {}", s.train_available);
    println!(
        "dropped          {} duplicates, {} unlabeled",
        s.dropped.duplicates, s.dropped.unlabeled
    );
}

fn show(dir: &std::path::Path, id: &str) -> anyhow::Result<()> {
    use finefail_core::files;
    let qa = finefail_data::tables::read_qa(&dir.join(files::QA))?;
    let q = qa.iter().find(|q| q.id == id).ok_or_else(|| {
        BadInput(format!(
            "{}: no question with id `{id}`",
            dir.join(files::QA).display()
        ))
    })?;
    let splits = finefail_data::Splits::load(&dir.join(files::SPLITS))?;
    let split = if splits.test.iter().any(|t| t == id) {
        "test"
    } else if splits.val.iter().any(|t| t == id) {
        "val"
    } else {
        "pool"
    };
    println!("id          {}", q.id);
    println!(
        "dataset     {} (source {}, split {split})",
        q.dataset, q.source_split
    );
    println!("question    {}", q.question);
    println!(
        "type        {}{}",
        q.answer_type.as_str(),
        q.label
            .map(|l| format!(" ({})", l.as_str()))
            .unwrap_or_default()
    );
    if q.answerable {
        for (i, a) in q.answers.iter().enumerate() {
            println!("answer {:<4} {a}", i + 1);
        }
    } else {
        println!(
            "answer      (unanswerable: the expected answer is \"{}\")",
            finefail_data::ABSTENTION
        );
    }
    let corpus = finefail_data::tables::read_corpus(&dir.join(files::CORPUS))
        .context("reading the corpus")?;
    for doc_id in &q.gold_doc_ids {
        if let Some(d) = corpus.iter().find(|d| &d.doc_id == doc_id) {
            let preview: String = d.text.chars().take(400).collect();
            let more = if d.text.chars().count() > 400 {
                " …"
            } else {
                ""
            };
            println!(
                "gold doc    {} {}\n            {preview}{more}",
                d.doc_id,
                if d.title.is_empty() {
                    String::new()
                } else {
                    format!("({})", d.title)
                }
            );
        }
    }
    Ok(())
}

/// One exported line: the chat messages first (the OpenAI fine-tuning format), then what a
/// re-import needs to rebuild the question (skipped with `--messages-only`).
#[derive(serde::Serialize)]
struct ExportLine {
    messages: Vec<finefail_model::chat::ChatMessage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    context: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<String>,
}

/// `finefail data export`: the training subset of (N, seed) in its training order, each question
/// as the `qa` prompt messages the train crate builds plus the training target, written atomically.
fn export(a: &ExportArgs) -> anyhow::Result<()> {
    use finefail_core::files;
    if finefail_data::Format::parse(&a.format).ok() != Some(Format::ChatJsonl) {
        return Err(BadInput(format!(
            "data export --format `{}`: the only export format is chat-jsonl",
            a.format
        ))
        .into());
    }
    let records = finefail_train::examples::train_subset_records(&a.data, a.size, a.seed)?;
    let labels = finefail_train::examples::dataset_label_set(&a.data)?;
    let corpus: std::collections::HashMap<String, String> = if a.messages_only {
        Default::default()
    } else {
        finefail_data::tables::read_corpus(&a.data.join(files::CORPUS))?
            .into_iter()
            .map(|d| (d.doc_id, d.text))
            .collect()
    };
    let mut text = String::new();
    for rec in &records {
        let messages = finefail_train::examples::qa_chat_messages(rec, labels)?;
        let line = if a.messages_only {
            ExportLine {
                messages,
                id: None,
                context: None,
                label: None,
            }
        } else {
            let passages: Vec<&str> = rec
                .gold_doc_ids
                .iter()
                .filter_map(|d| corpus.get(d).map(String::as_str))
                .filter(|t| !t.trim().is_empty())
                .collect();
            ExportLine {
                messages,
                id: Some(rec.id.clone()),
                context: (!passages.is_empty()).then(|| passages.join("\n\n")),
                label: rec.label.map(|l| l.as_str().to_string()),
            }
        };
        text.push_str(&serde_json::to_string(&line)?);
        text.push('\n');
    }
    finefail_core::atomic::write_file(&a.out, text.as_bytes())?;
    eprintln!(
        "exported {} training examples (N = {}, seed {}) as chat-jsonl → {}",
        records.len(),
        a.size,
        a.seed,
        a.out.display()
    );
    Ok(())
}
