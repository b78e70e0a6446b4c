//! `finefail retrieve`: the top-k chunks of every question of a prepared dataset, once per dataset,
//! shared by every arm.

use crate::exit::BadInput;
use clap::Args;
use finefail_model::device::parse_device;
use finefail_rag::retrieve::{run_retrieve, RetrieveOptions, Retriever};
use std::path::PathBuf;

/// Arguments of `finefail retrieve`.
#[derive(Args)]
pub struct RetrieveArgs {
    /// A directory written by `finefail data prepare`.
    #[arg(long)]
    data: PathBuf,
    /// Output directory: retrieval.parquet, retrieval_metrics.json.
    #[arg(long)]
    out: PathBuf,
    /// bm25 | dense | hybrid
    #[arg(long, default_value = "hybrid")]
    retriever: String,
    #[arg(long, default_value_t = finefail_rag::retrieve::DEFAULT_TOP_K)]
    top_k: usize,
    /// The embedder checkpoint (dense and hybrid).
    #[arg(long, default_value = finefail_rag::retrieve::DEFAULT_EMBEDDER_DIR)]
    embedder: PathBuf,
    /// cpu | cuda:N | tch-cpu | tch-cuda:N
    #[arg(long, default_value = "cpu")]
    device: String,
}

/// Runs `finefail retrieve`.
pub fn run(a: RetrieveArgs) -> anyhow::Result<()> {
    let retriever: Retriever = a
        .retriever
        .parse()
        .map_err(|e: finefail_rag::RagError| BadInput(e.to_string()))?;
    let options = RetrieveOptions {
        retriever,
        top_k: a.top_k,
        embedder_dir: a.embedder,
        cache_dir: None,
        device: parse_device(&a.device)?,
    };
    let display = crate::progress::Display::new();
    let task = display.task("retrieve");
    task.stage("loading chunks, questions and the embedder");
    let metrics = run_retrieve(&a.data, &a.out, &options, &mut |p| {
        task.update(
            p.done as u64,
            Some(p.total as u64),
            p.phase.unit(),
            p.phase.describe(),
        )
    });
    task.finish();
    drop(display);
    let metrics = metrics?;
    let quality = match (metrics.recall_at_k, metrics.mrr) {
        (Some(r), Some(m)) => format!("recall@{} {r:.3}, MRR {m:.3}", metrics.top_k),
        _ => "no gold documents to measure recall".to_string(),
    };
    eprintln!(
        "retrieved top {} for {} questions ({}) → {}",
        metrics.top_k,
        metrics.questions,
        quality,
        a.out.display()
    );
    Ok(())
}
