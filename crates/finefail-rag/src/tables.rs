//! The tables retrieval reads and writes: `chunks.parquet` and `qa.parquet` in, `retrieval.parquet` out.
//!
//! Schemas are pinned in DESIGN.md ("Canonical tables"); only the columns retrieval needs are read, so
//! extra columns are ignored. Written files go to a temporary name in the same directory, then are renamed.

use std::fs::File;
use std::path::Path;

use polars::prelude::*;

use crate::error::{RagError, Result};

/// One retrievable passage of a document (a row of `chunks.parquet`).
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    /// `{doc_id}#{n}`, the key `retrieval.parquet` refers to.
    pub chunk_id: String,
    /// The document the chunk was cut from; gold documents are matched on it.
    pub doc_id: String,
    /// The passage text that is indexed and embedded.
    pub text: String,
}

/// One question to retrieve for (a row of `qa.parquet`, reduced to what retrieval needs).
#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    /// The question id, `question_id` in `retrieval.parquet`.
    pub id: String,
    /// The question text, used as the query.
    pub question: String,
    /// Documents known to hold the answer (may be empty); used for recall@k and MRR.
    pub gold_doc_ids: Vec<String>,
}

/// One retrieved chunk for one question (a row of `retrieval.parquet`).
#[derive(Debug, Clone, PartialEq)]
pub struct RetrievalRow {
    /// The question the chunk was retrieved for.
    pub question_id: String,
    /// 1-based position in the ranking.
    pub rank: u32,
    /// The retrieved chunk.
    pub chunk_id: String,
    /// The retriever's score (BM25 score, cosine similarity, or fused RRF score); higher is better.
    pub score: f64,
}

fn read_parquet(path: &Path) -> Result<DataFrame> {
    let file = File::open(path).map_err(|e| RagError::io(path, e))?;
    ParquetReader::new(file).finish().map_err(|e| {
        RagError::bad_input(format!(
            "{}: not a readable parquet table: {e}",
            path.display()
        ))
    })
}

fn str_column(df: &DataFrame, path: &Path, name: &str) -> Result<Vec<String>> {
    let col = df
        .column(name)
        .map_err(|_| RagError::bad_input(format!("{}: missing column `{name}`", path.display())))?;
    let ca = col.str().map_err(|_| {
        RagError::bad_input(format!(
            "{}: column `{name}` must be strings, found {}",
            path.display(),
            col.dtype()
        ))
    })?;
    ca.iter()
        .enumerate()
        .map(|(i, v)| {
            v.map(str::to_owned).ok_or_else(|| {
                RagError::bad_input(format!(
                    "{}: null `{name}` in row {}",
                    path.display(),
                    i + 1
                ))
            })
        })
        .collect()
}

fn str_list_column(df: &DataFrame, path: &Path, name: &str) -> Result<Vec<Vec<String>>> {
    let Ok(col) = df.column(name) else {
        return Ok(vec![Vec::new(); df.height()]);
    };
    let ca = col.list().map_err(|_| {
        RagError::bad_input(format!(
            "{}: column `{name}` must be a list of strings, found {}",
            path.display(),
            col.dtype()
        ))
    })?;
    let mut out = Vec::with_capacity(df.height());
    for item in ca.series_iter() {
        let mut ids = Vec::new();
        if let Some(series) = item {
            let s = series.str().map_err(|_| {
                RagError::bad_input(format!(
                    "{}: column `{name}` must hold strings",
                    path.display()
                ))
            })?;
            ids.extend(s.iter().flatten().map(str::to_owned));
        }
        out.push(ids);
    }
    Ok(out)
}

/// Reads `chunks.parquet` (columns `chunk_id`, `doc_id`, `text`), in file order.
pub fn read_chunks(path: &Path) -> Result<Vec<Chunk>> {
    let df = read_parquet(path)?;
    let ids = str_column(&df, path, "chunk_id")?;
    let docs = str_column(&df, path, "doc_id")?;
    let texts = str_column(&df, path, "text")?;
    let chunks: Vec<Chunk> = ids
        .into_iter()
        .zip(docs)
        .zip(texts)
        .map(|((chunk_id, doc_id), text)| Chunk {
            chunk_id,
            doc_id,
            text,
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    for c in &chunks {
        if !seen.insert(c.chunk_id.as_str()) {
            return Err(RagError::bad_input(format!(
                "{}: duplicate chunk_id `{}`",
                path.display(),
                c.chunk_id
            )));
        }
    }
    Ok(chunks)
}

/// Reads `qa.parquet` (columns `id`, `question`, optional `gold_doc_ids`), in file order.
pub fn read_questions(path: &Path) -> Result<Vec<Question>> {
    let df = read_parquet(path)?;
    let ids = str_column(&df, path, "id")?;
    let questions = str_column(&df, path, "question")?;
    let gold = str_list_column(&df, path, "gold_doc_ids")?;
    Ok(ids
        .into_iter()
        .zip(questions)
        .zip(gold)
        .map(|((id, question), gold_doc_ids)| Question {
            id,
            question,
            gold_doc_ids,
        })
        .collect())
}

/// Writes `retrieval.parquet` atomically (temporary file in the same directory, then rename).
pub fn write_retrieval(path: &Path, rows: &[RetrievalRow]) -> Result<()> {
    let n = rows.len();
    let columns = vec![
        Column::new(
            "question_id".into(),
            rows.iter()
                .map(|r| r.question_id.as_str())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "rank".into(),
            rows.iter().map(|r| r.rank).collect::<Vec<u32>>(),
        ),
        Column::new(
            "chunk_id".into(),
            rows.iter().map(|r| r.chunk_id.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            "score".into(),
            rows.iter().map(|r| r.score).collect::<Vec<f64>>(),
        ),
    ];
    let mut df = DataFrame::new(n, columns)
        .map_err(|e| RagError::Other(format!("building retrieval table: {e}")))?;
    crate::atomic::write_with(path, |file| {
        ParquetWriter::new(file)
            .finish(&mut df)
            .map(|_| ())
            .map_err(|e| std::io::Error::other(e.to_string()))
    })
}

/// Reads `retrieval.parquet` back, e.g. for the answering step; rows in file order.
pub fn read_retrieval(path: &Path) -> Result<Vec<RetrievalRow>> {
    let df = read_parquet(path)?;
    let qids = str_column(&df, path, "question_id")?;
    let cids = str_column(&df, path, "chunk_id")?;
    let bad = |name: &str| {
        RagError::bad_input(format!(
            "{}: column `{name}` has the wrong type or nulls",
            path.display()
        ))
    };
    let rank = df
        .column("rank")
        .map_err(|_| bad("rank"))?
        .cast(&DataType::Int64)
        .map_err(|_| bad("rank"))?;
    let score = df
        .column("score")
        .map_err(|_| bad("score"))?
        .cast(&DataType::Float64)
        .map_err(|_| bad("score"))?;
    let ranks = rank.i64().map_err(|_| bad("rank"))?;
    let scores = score.f64().map_err(|_| bad("score"))?;
    let mut rows = Vec::with_capacity(df.height());
    for (((question_id, chunk_id), r), s) in qids
        .into_iter()
        .zip(cids)
        .zip(ranks.iter())
        .zip(scores.iter())
    {
        let rank = r
            .and_then(|r| u32::try_from(r).ok())
            .filter(|&r| r >= 1)
            .ok_or_else(|| bad("rank"))?;
        rows.push(RetrievalRow {
            question_id,
            rank,
            chunk_id,
            score: s.ok_or_else(|| bad("score"))?,
        });
    }
    Ok(rows)
}
