//! What every answering arm (a local model or an API endpoint) starts from: the test questions of a
//! prepared dataset and the chunk texts each one is given (none, retrieved or gold), read the same
//! way for all arms so their answers differ only by the model.

use crate::error::{RagError, Result};
use crate::rag_prompt::AnswerForm;
use finefail_core::files;
use finefail_core::AnswerContext;
use finefail_data::tables::{read_chunks, read_qa, read_ranked_chunk_texts};
use finefail_data::{Chunk, LabelSet, QaRecord, Splits};
use std::collections::HashMap;
use std::path::Path;

/// The test questions of a dataset with their contexts.
pub(crate) struct TestInputs {
    /// Every question of `qa.parquet`, by id.
    pub questions: HashMap<String, QaRecord>,
    /// The test split's question ids, in split order.
    pub test: Vec<String>,
    /// The chunk texts each test question is given (absent = none).
    pub contexts: HashMap<String, Vec<String>>,
    /// The dataset's label set (from every question, not only the test ones).
    pub labels: LabelSet,
}

impl TestInputs {
    /// What the prompt of `q` tells the model about the answer's form.
    pub fn form(&self, q: &QaRecord) -> AnswerForm {
        AnswerForm::of(q.answer_type, self.labels)
    }
}

/// Reads `qa.parquet`, `splits.json` and `chunks.parquet` of `data_dir` (and, for retrieved
/// context, `retrieval_dir/retrieval.parquet`) into the test questions and their contexts.
pub(crate) fn load_test_inputs(
    data_dir: &Path,
    retrieval_dir: Option<&Path>,
    context: AnswerContext,
    top_k: usize,
) -> Result<TestInputs> {
    let questions: HashMap<String, QaRecord> = read_qa(&data_dir.join(files::QA))?
        .into_iter()
        .map(|q| (q.id.clone(), q))
        .collect();
    let test = Splits::load(&data_dir.join(files::SPLITS))?.test;
    let chunks: Vec<Chunk> = read_chunks(&data_dir.join(files::CHUNKS))?;
    let contexts = contexts_for(
        context,
        top_k,
        &test,
        &questions,
        &chunks,
        data_dir,
        retrieval_dir,
    )?;
    let labels = LabelSet::of(questions.values());
    Ok(TestInputs {
        questions,
        test,
        contexts,
        labels,
    })
}

/// The chunk texts each test question is given.
fn contexts_for(
    context: AnswerContext,
    top_k: usize,
    test: &[String],
    questions: &HashMap<String, QaRecord>,
    chunks: &[Chunk],
    data_dir: &Path,
    retrieval_dir: Option<&Path>,
) -> Result<HashMap<String, Vec<String>>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    match context {
        AnswerContext::None => {}
        AnswerContext::Retrieved => {
            let dir = retrieval_dir
                .ok_or_else(|| RagError::bad_input("retrieved context needs --retrieval DIR"))?;
            out = read_ranked_chunk_texts(data_dir, dir, top_k)?;
            if let Some(missing) = test.iter().find(|id| !out.contains_key(*id)) {
                return Err(RagError::bad_input(format!("{}: no retrieval for test question `{missing}`; was it computed for this dataset?", dir.display())));
            }
        }
        AnswerContext::Gold => {
            // The first top_k chunks of the question's gold documents, in document order.
            for id in test {
                let Some(q) = questions.get(id) else { continue };
                let gold: Vec<String> = chunks
                    .iter()
                    .filter(|c| q.gold_doc_ids.contains(&c.doc_id))
                    .take(top_k)
                    .map(|c| c.text.clone())
                    .collect();
                out.insert(id.clone(), gold);
            }
        }
    }
    Ok(out)
}
