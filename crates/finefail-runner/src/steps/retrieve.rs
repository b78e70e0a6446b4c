//! `retrieve/{dataset}`: the top-k chunks of every question, once per dataset, shared by every arm
//! (`retrieval/{dataset}/`).

use crate::config::Config;
use crate::error::Result;
use crate::progress::{ProgressSink, StepProgress};
use finefail_core::RunLayout;
use finefail_rag::retrieve::{run_retrieve, RetrieveOptions};
use std::path::Path;

/// Retrieves for the prepared `dataset` of the run into `scratch`, reporting chunks embedded, then
/// questions.
pub fn run(
    config: &Config,
    dataset: &str,
    run_dir: &Path,
    scratch: &Path,
    progress: ProgressSink,
) -> Result<()> {
    let r = &config.retrieval;
    let options = RetrieveOptions {
        retriever: r.retriever,
        top_k: r.top_k,
        embedder_dir: r.embedder.clone(),
        cache_dir: None,
        device: finefail_model::device::parse_device(&config.device)?,
    };
    progress(StepProgress::stage("reading chunks and questions"));
    run_retrieve(
        &RunLayout::new(run_dir).data(dataset),
        scratch,
        &options,
        &mut |p| {
            progress(
                StepProgress::count(p.phase.unit(), p.done, p.total).with_note(p.phase.describe()),
            )
        },
    )?;
    Ok(())
}
