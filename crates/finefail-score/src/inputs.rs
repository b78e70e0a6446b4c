//! Reading what `finefail score` scores: the questions of a prepared dataset (`qa.parquet`), the
//! answers of an arm (`answers.parquet`) and the retrieved context of each question
//! (`retrieval.parquet` + `chunks.parquet`). Shared by the `score` command and the runner.

use crate::error::ScoreError;
use crate::record::{Answer, Question};
use polars::prelude::*;
use std::collections::HashMap;
use std::path::Path;

/// The questions of a prepared dataset directory, by id.
pub fn read_questions(data_dir: &Path) -> Result<HashMap<String, Question>, ScoreError> {
    let path = data_dir.join(finefail_data::prepare::files::QA);
    let rows =
        finefail_data::tables::read_qa(&path).map_err(|e| ScoreError::BadInput(e.to_string()))?;
    Ok(rows
        .into_iter()
        .map(|q| {
            let question = Question {
                id: q.id.clone(),
                question: q.question,
                answers: q.answers,
                answer_type: q.answer_type.as_str().to_string(),
                label: q.label.map(|l| l.as_str().to_string()),
                answerable: q.answerable,
                gold_doc_ids: q.gold_doc_ids,
            };
            (q.id, question)
        })
        .collect())
}

/// One row of `answers.parquet` as scoring needs it: the answer and the context it was given
/// (`retrieved`, `none` or `gold`).
#[derive(Debug, Clone, PartialEq)]
pub struct AnswerRow {
    pub answer: Answer,
    pub context: String,
}

/// Reads `answers.parquet` (`arm, question_id, context, answer, prompt_tokens, answer_tokens, ms`).
pub fn read_answers(path: &Path) -> Result<Vec<AnswerRow>, ScoreError> {
    let rows = finefail_data::tables::read_answers(path).map_err(|e| {
        if e.is_bad_input() {
            ScoreError::BadInput(e.to_string())
        } else {
            ScoreError::Internal(e.to_string())
        }
    })?;
    Ok(rows
        .into_iter()
        .map(|r| AnswerRow {
            answer: Answer {
                arm: r.arm,
                question_id: r.question_id,
                answer: r.answer,
                answer_tokens: r.answer_tokens,
            },
            context: r.context,
        })
        .collect())
}

/// Question id → its retrieved chunk ids in rank order.
pub fn read_retrieved_ids(
    retrieval_dir: &Path,
) -> Result<HashMap<String, Vec<String>>, ScoreError> {
    let path = retrieval_dir.join("retrieval.parquet");
    let df = read_parquet(&path)?;
    let col = |name: &str| -> Result<Series, ScoreError> {
        Ok(df
            .column(name)
            .map_err(|_| ScoreError::table(&path, format!("missing column `{name}`")))?
            .as_materialized_series()
            .clone())
    };
    let (qids, cids) = (col("question_id")?, col("chunk_id")?);
    let ranks = col("rank")?
        .cast(&DataType::UInt64)
        .map_err(|e| ScoreError::table(&path, e.to_string()))?;
    let bad = |e: PolarsError| ScoreError::table(&path, e.to_string());
    let mut rows: Vec<(String, u64, String)> = qids
        .str()
        .map_err(bad)?
        .iter()
        .zip(ranks.u64().map_err(bad)?.iter())
        .zip(cids.str().map_err(bad)?.iter())
        .map(|((q, r), c)| {
            (
                q.unwrap_or_default().to_string(),
                r.unwrap_or(0),
                c.unwrap_or_default().to_string(),
            )
        })
        .collect();
    rows.sort();
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for (q, _, c) in rows {
        out.entry(q).or_default().push(c);
    }
    Ok(out)
}

/// Question id → the text of its retrieved chunks (rank order), for faithfulness.
pub fn retrieved_contexts(
    retrieval_dir: &Path,
    data_dir: &Path,
) -> Result<HashMap<String, String>, ScoreError> {
    let chunks_path = data_dir.join(finefail_data::prepare::files::CHUNKS);
    let chunks: HashMap<String, String> = finefail_data::tables::read_chunks(&chunks_path)
        .map_err(|e| ScoreError::BadInput(e.to_string()))?
        .into_iter()
        .map(|c| (c.chunk_id, c.text))
        .collect();
    let mut out = HashMap::new();
    for (q, ids) in read_retrieved_ids(retrieval_dir)? {
        let mut text = String::new();
        for c in ids {
            let t = chunks.get(&c).ok_or_else(|| {
                ScoreError::BadInput(format!(
                    "{}: chunk `{c}` is not in {}",
                    retrieval_dir.display(),
                    chunks_path.display()
                ))
            })?;
            text.push_str(t);
            text.push('\n');
        }
        out.insert(q, text);
    }
    Ok(out)
}

/// Checks every answer is for a question of the dataset; the error names the file and the id.
pub fn check_question_ids(
    answers: &[AnswerRow],
    questions: &HashMap<String, Question>,
    source: &Path,
) -> Result<(), ScoreError> {
    match answers.iter().find(|a| !questions.contains_key(&a.answer.question_id)) {
        None => Ok(()),
        Some(a) => Err(ScoreError::BadInput(format!(
            "{}: answer for question `{}` which is not in the dataset; were these answers made from another dataset?",
            source.display(),
            a.answer.question_id
        ))),
    }
}

fn read_parquet(path: &Path) -> Result<DataFrame, ScoreError> {
    let file = std::fs::File::open(path).map_err(|e| ScoreError::io(path, e))?;
    ParquetReader::new(file)
        .finish()
        .map_err(|e| ScoreError::table(path, format!("not a readable parquet table: {e}")))
}
