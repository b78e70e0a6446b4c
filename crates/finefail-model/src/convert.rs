//! GGUF → Hugging Face directory conversion (`finefail model convert`).
//!
//! Reads a llama-architecture GGUF file and writes, atomically (temp dir + rename), a directory the
//! rest of finefail loads like any Hugging Face checkpoint: `config.json` (LlamaForCausalLM, from the
//! `llama.*` metadata), `model.safetensors` (bf16, f16 or f32 — [`OutDtype`]; Hugging Face tensor
//! names, q/k rows un-permuted),
//! `tokenizer.json` rebuilt from the `tokenizer.ggml.*` metadata, `tokenizer_config.json` (chat
//! template, bos/eos/pad/unk) and `generation_config.json`.

mod hf_files;
mod out_dtype;
mod safetensors_writer;
mod tensor_names;
mod tokenizer_json;

use std::path::{Path, PathBuf};

use crate::error::{ModelError, Result};
use crate::gguf::GgufFile;
use finefail_core::atomic::StagedDir;

pub use out_dtype::OutDtype;
pub use tensor_names::unpermute_rows;

/// What a conversion produced, for the CLI to report.
#[derive(Debug, Clone)]
pub struct ConvertSummary {
    /// The directory written.
    pub out: PathBuf,
    /// `general.architecture` of the source (always `llama` today).
    pub architecture: String,
    /// Number of tensors written to `model.safetensors`.
    pub n_tensors: usize,
    /// Total number of parameters written.
    pub n_params: u64,
    /// Size of the tokenizer vocabulary (with special tokens).
    pub vocab_size: usize,
    /// True when the GGUF has no `output` tensor and the head is tied to the embedding.
    pub tied_embeddings: bool,
    /// Size of `model.safetensors` in bytes.
    pub safetensors_bytes: u64,
    /// The dtype `model.safetensors` holds.
    pub dtype: OutDtype,
}

/// Converts `gguf` into a Hugging Face directory at `out`, which must not exist yet, storing the
/// weights as `dtype`. Nothing appears at `out` unless the whole conversion succeeded.
pub fn convert_gguf(gguf: &Path, out: &Path, dtype: OutDtype) -> Result<ConvertSummary> {
    convert_gguf_with_progress(gguf, out, dtype, &mut |_, _| {})
}

/// [`convert_gguf`], calling `progress(done, total)` after each tensor written (dequantizing a
/// multi-GB file takes minutes; the caller shows how far it is).
pub fn convert_gguf_with_progress(
    gguf: &Path,
    out: &Path,
    dtype: OutDtype,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<ConvertSummary> {
    if out.exists() {
        return Err(ModelError::bad_input(
            out,
            "output directory already exists; remove it or choose another",
        ));
    }
    let file = GgufFile::open(gguf)?;
    let arch = file.require_str("general.architecture")?.to_string();
    if arch != "llama" {
        return Err(ModelError::bad_input(
            gguf,
            format!("unsupported GGUF architecture `{arch}` (only `llama` converts today)"),
        ));
    }
    let staged = StagedDir::new(out)?;
    let mut summary = write_all(&file, staged.path(), out, dtype, progress)?;
    staged.commit()?;
    summary.architecture = arch;
    Ok(summary)
}

/// Writes every file of the converted directory into `dir` (the temp dir).
fn write_all(
    file: &GgufFile,
    dir: &Path,
    out: &Path,
    dtype: OutDtype,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<ConvertSummary> {
    let params = hf_files::LlamaParams::from_gguf(file)?;
    let vocab = tokenizer_json::GgufVocab::from_gguf(file)?;
    let plan = tensor_names::plan(file, &params)?;
    let embed_rows = plan
        .iter()
        .find(|t| t.hf_name == "model.embed_tokens.weight")
        .map(|t| t.shape[0]);
    if let Some(rows) = embed_rows {
        if rows < vocab.tokens.len() {
            return Err(ModelError::bad_input(
                file.path(),
                format!(
                    "tokenizer has {} tokens but the embedding only {rows} rows",
                    vocab.tokens.len()
                ),
            ));
        }
    }
    let tied = !plan.iter().any(|t| t.hf_name == "lm_head.weight");
    let st_path = dir.join("model.safetensors");
    let (n_params, st_bytes) =
        safetensors_writer::write(file, &plan, &params, dtype, &st_path, progress)?;
    hf_files::write_json(
        &dir.join("config.json"),
        &hf_files::config_json(&params, &vocab, tied, dtype),
    )?;
    let tok = tokenizer_json::build(&vocab, file.path())?;
    hf_files::write_json(&dir.join("tokenizer.json"), &tok)?;
    hf_files::write_json(
        &dir.join("tokenizer_config.json"),
        &hf_files::tokenizer_config_json(&params, &vocab),
    )?;
    hf_files::write_json(
        &dir.join("generation_config.json"),
        &hf_files::generation_config_json(&vocab),
    )?;
    Ok(ConvertSummary {
        out: out.to_path_buf(),
        architecture: String::new(),
        n_tensors: plan.len(),
        n_params,
        vocab_size: vocab.tokens.len(),
        tied_embeddings: tied,
        safetensors_bytes: st_bytes,
        dtype,
    })
}
