//! `retrieve/{dataset}`: the top-k chunks of every question, once per dataset, shared by every arm
//! (`retrieval/{dataset}/`).

use crate::config::Config;
use crate::error::Result;
use finefail_rag::retrieve::{run_retrieve, RetrieveOptions};
use std::path::Path;

/// Retrieves for the prepared `dataset` of the run into `scratch`.
pub fn run(config: &Config, dataset: &str, run_dir: &Path, scratch: &Path) -> Result<()> {
    let r = &config.retrieval;
    let options = RetrieveOptions {
        retriever: r.retriever.parse()?,
        top_k: r.top_k,
        embedder_dir: r.embedder.clone(),
        cache_dir: None,
        device: finefail_model::device::parse_device(&config.device)?,
    };
    run_retrieve(
        &run_dir.join("data").join(dataset),
        scratch,
        &options,
        &mut |_, _| {},
    )?;
    Ok(())
}
