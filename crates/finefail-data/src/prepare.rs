//! `data prepare`: import → dataset → chunks → splits → contamination, written as one directory
//! that appears atomically (staged beside the target, renamed at the end) or not at all.

use crate::chunk::{chunk_corpus, ChunkConfig};
use crate::contamination;
use crate::dataset::{build, Dropped};
use crate::error::{DataError, Result};
use crate::importers::{import, ColumnMap, Format};
use crate::schema::QaRecord;
use crate::splits::{SplitConfig, SplitUnit, Splits};
use crate::tables;
use finefail_core::atomic::{write_json, StagedDir};
use finefail_core::files;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Everything `data prepare` takes.
#[derive(Debug, Clone)]
pub struct PrepareOptions {
    pub format: Format,
    pub input: PathBuf,
    pub out: PathBuf,
    /// The `dataset` column and id prefix; defaults to the format's name.
    pub name: Option<String>,
    pub map: ColumnMap,
    pub split: SplitConfig,
    pub chunking: ChunkConfig,
    /// The embedder's tokenizer, for token chunks.
    pub tokenizer: Option<PathBuf>,
}

/// The contents of `stats.json` and the output of `data stats --json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub dataset: String,
    pub format: String,
    /// Records read from the input.
    pub rows: usize,
    pub questions: usize,
    pub documents: usize,
    pub chunks: usize,
    pub test: usize,
    pub val: usize,
    /// The pool: questions in neither test nor validation, available for training.
    pub train_available: usize,
    pub answer_types: BTreeMap<String, usize>,
    pub unanswerable: usize,
    pub dropped: Dropped,
    pub split_unit: SplitUnit,
    pub split_seed: u64,
    pub chunking: ChunkConfig,
}

/// Runs `data prepare`; `progress` hears one line per stage (the binary shows it).
pub fn prepare(opts: &PrepareOptions, progress: &mut dyn FnMut(&str)) -> Result<Stats> {
    opts.chunking
        .validate()
        .map_err(|m| DataError::bad_input("--chunk-size", m))?;
    let name = opts
        .name
        .clone()
        .unwrap_or_else(|| opts.format.name().to_string());
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        return Err(DataError::bad_input(
            "--name",
            format!("dataset name `{name}` may use only letters, digits, `.`, `_` and `-`"),
        ));
    }
    // Fail on an unwritable output before the (possibly long) import.
    let staged = StagedDir::new(&opts.out)?;

    progress(&format!(
        "reading {} input from {}",
        opts.format.name(),
        opts.input.display()
    ));
    let imported = import(opts.format, &opts.input, &opts.map)?;
    if imported.rows == 0 {
        return Err(DataError::bad_input(
            &opts.input,
            "the input holds no records",
        ));
    }
    let dataset = build(&name, imported)?;
    progress(&format!(
        "{} questions over {} documents",
        dataset.questions.len(),
        dataset.documents.len()
    ));

    progress("chunking the corpus");
    let chunks = chunk_corpus(
        &dataset.documents,
        &opts.chunking,
        opts.tokenizer.as_deref(),
    )?;
    progress("splitting");
    let splits = Splits::make(&dataset.questions, &opts.split)?;
    progress("checking contamination");
    let by_id: HashMap<&str, &QaRecord> = dataset
        .questions
        .iter()
        .map(|q| (q.id.as_str(), q))
        .collect();
    let pick = |ids: &[String]| {
        ids.iter()
            .filter_map(|id| by_id.get(id.as_str()).copied())
            .collect::<Vec<_>>()
    };
    let report = contamination::check(&pick(&splits.test), &pick(&splits.pool));

    let mut answer_types = BTreeMap::new();
    for q in &dataset.questions {
        *answer_types
            .entry(q.answer_type.as_str().to_string())
            .or_insert(0) += 1;
    }
    let stats = Stats {
        dataset: name,
        format: opts.format.name().to_string(),
        rows: dataset.rows,
        questions: dataset.questions.len(),
        documents: dataset.documents.len(),
        chunks: chunks.len(),
        test: splits.test.len(),
        val: splits.val.len(),
        train_available: splits.pool.len(),
        answer_types,
        unanswerable: dataset.questions.iter().filter(|q| !q.answerable).count(),
        dropped: dataset.dropped,
        split_unit: splits.unit,
        split_seed: splits.split_seed,
        chunking: opts.chunking.clone(),
    };

    progress(&format!("writing {}", opts.out.display()));
    let dir = staged.path();
    tables::write_qa(&dir.join(files::QA), &dataset.questions)?;
    tables::write_corpus(&dir.join(files::CORPUS), &dataset.documents)?;
    tables::write_chunks(&dir.join(files::CHUNKS), &chunks)?;
    splits.save(&dir.join(files::SPLITS))?;
    write_json(&dir.join(files::CONTAMINATION), &report)?;
    write_json(&dir.join(files::STATS), &stats)?;
    staged.commit()?;
    Ok(stats)
}

/// Reads `stats.json` of a prepared directory (checking the tables are there too).
pub fn load_stats(dir: &Path) -> Result<Stats> {
    for f in [
        files::QA,
        files::CORPUS,
        files::CHUNKS,
        files::SPLITS,
        files::STATS,
    ] {
        let p = dir.join(f);
        if !p.is_file() {
            return Err(DataError::bad_input(
                &p,
                "missing; is this a directory written by `finefail data prepare`?",
            ));
        }
    }
    let p = dir.join(files::STATS);
    let text = std::fs::read_to_string(&p).map_err(|e| DataError::io(&p, e))?;
    serde_json::from_str(&text)
        .map_err(|e| DataError::bad_input(&p, format!("not a valid stats.json: {e}")))
}
