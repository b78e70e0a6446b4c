//! What retrieval reads of `qa.parquet`: each question reduced to what a retriever needs. The
//! tables themselves (`qa`, `chunks`, `retrieval`, `answers`) are read and written by
//! `finefail_data::tables`, one reader beside each writer.

use std::path::Path;

use crate::error::Result;

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

/// Reads the questions of `qa.parquet`, in file order.
pub fn read_questions(path: &Path) -> Result<Vec<Question>> {
    Ok(finefail_data::tables::read_qa(path)?
        .into_iter()
        .map(|q| Question {
            id: q.id,
            question: q.question,
            gold_doc_ids: q.gold_doc_ids,
        })
        .collect())
}
