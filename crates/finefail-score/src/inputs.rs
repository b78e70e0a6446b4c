//! Reading what `finefail score` scores: the questions of a prepared dataset (`qa.parquet`), the
//! answers of an arm (`answers.parquet`) and the retrieved context of each question
//! (`retrieval.parquet` + `chunks.parquet`). Shared by the `score` command and the runner.

use crate::error::ScoreError;
use crate::record::{Answer, Question};
use finefail_core::files;
use finefail_data::tables::{ranked_chunk_ids, read_qa, read_ranked_chunk_texts, read_retrieval};
use std::collections::HashMap;
use std::path::Path;

/// The questions of a prepared dataset directory, by id.
pub fn read_questions(data_dir: &Path) -> Result<HashMap<String, Question>, ScoreError> {
    let rows = read_qa(&data_dir.join(files::QA))?;
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
    let rows = finefail_data::tables::read_answers(path)?;
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
    let rows = read_retrieval(&retrieval_dir.join(files::RETRIEVAL))?;
    Ok(ranked_chunk_ids(&rows, usize::MAX))
}

/// Question id → the text of its retrieved chunks (rank order), for faithfulness.
pub fn retrieved_contexts(
    retrieval_dir: &Path,
    data_dir: &Path,
) -> Result<HashMap<String, String>, ScoreError> {
    let ranked = read_ranked_chunk_texts(data_dir, retrieval_dir, usize::MAX)?;
    Ok(ranked
        .into_iter()
        .map(|(q, texts)| {
            let text = texts.iter().map(|t| format!("{t}\n")).collect();
            (q, text)
        })
        .collect())
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
