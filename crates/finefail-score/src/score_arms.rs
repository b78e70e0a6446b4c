//! Scoring arms from their `answers.parquet` files: the one orchestration that `finefail score` and
//! the runner's score step share, so both decide alike which answers are held to the retrieved
//! context and write the same `scores.parquet`.
//!
//! 1. Read the questions, the retrieved context (when a retrieval directory is given) and every
//!    answer file; each answer must be for a question of the dataset.
//! 2. Score every answer with the deterministic metrics. An answer's context is decided by its
//!    arm's name (`@none`, `@gold` suffix; none = retrieved): only retrieved-context answers get a
//!    `faithfulness` row. Retrieved-context answers come first, then the others, each in file order.
//!    Then, for an answer file with a `label_ll.parquet` beside it (label questions of a local-model
//!    arm), the label log-likelihood rows ([`crate::label_ll`]).
//! 3. Write `scores.parquet` with those rows, so a judge failure cannot lose them.
//! 4. With a judge: preflight, judge every answer (`repeats` times, cached on disk) and write
//!    `scores.parquet` again with the judge's rows added. A judge failure is handed back beside the
//!    deterministic rows, not instead of them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::inputs::{check_question_ids, read_answers, read_questions, retrieved_contexts};
use crate::judge::http::HttpJudge;
use crate::judge::{judge_answers, JudgeConfig, JudgeRequest};
use crate::label_ll::label_ll_rows;
use crate::record::{score_answers, Answer, Question, ScoreRow};
use crate::tables::write_scores;
use crate::ScoreError;
use finefail_core::{files, AnswerContext, ArmId};
use finefail_data::chat_api::ChatCache;

/// What to score: one dataset's arms, and the judge if one is configured.
#[derive(Debug, Clone)]
pub struct ArmsToScore<'a> {
    /// The prepared dataset directory (`qa.parquet`, `chunks.parquet`).
    pub data_dir: &'a Path,
    /// The dataset's retrieval directory; without it no answer gets `faithfulness`.
    pub retrieval_dir: Option<&'a Path>,
    /// `answers.parquet` files, one per arm.
    pub answer_files: &'a [PathBuf],
    /// The LLM judge (accuracy and completeness); `None` for deterministic metrics only.
    pub judge: Option<&'a JudgeConfig>,
}

/// What [`score_arms`] scored and wrote.
#[derive(Debug)]
pub struct ScoredArms {
    /// Every answer read, in file order.
    pub answers: Vec<Answer>,
    /// Every row written to `scores.parquet`.
    pub rows: Vec<ScoreRow>,
    /// Why the judge failed, if it did; the deterministic rows were written all the same.
    pub judge_error: Option<ScoreError>,
}

/// Scores the arms of `what` into `scores_path` (see the module doc for the steps).
/// `judge_progress(done, total)` counts judgments, cached ones included in `total`.
pub fn score_arms(
    what: &ArmsToScore<'_>,
    scores_path: &Path,
    judge_progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<ScoredArms, ScoreError> {
    // 1. Inputs.
    let questions = read_questions(what.data_dir)?;
    let contexts = match what.retrieval_dir {
        Some(dir) => retrieved_contexts(dir, what.data_dir)?,
        None => HashMap::new(),
    };
    let mut answers = Vec::new();
    let mut retrieved = Vec::new();
    let mut other = Vec::new();
    let mut label_ll = Vec::new();
    for path in what.answer_files {
        let rows = read_answers(path)?;
        check_question_ids(&rows, &questions, path)?;
        let table = path.with_file_name(files::LABEL_LL);
        if table.is_file() {
            let file_answers: Vec<Answer> = rows.iter().map(|r| r.answer.clone()).collect();
            let records = finefail_data::tables::read_label_ll(&table)?;
            label_ll.extend(label_ll_rows(&questions, &file_answers, &records, &table)?);
        }
        for row in rows {
            if answer_context(&row.answer.arm, &row.context, path)?.is_retrieved() {
                retrieved.push(row.answer.clone());
            } else {
                other.push(row.answer.clone());
            }
            answers.push(row.answer);
        }
    }
    // 2. Deterministic metrics.
    let mut rows = score_answers(&questions, &retrieved, &contexts)?;
    rows.extend(score_answers(&questions, &other, &HashMap::new())?);
    rows.extend(label_ll);
    // 3. Written before the judge runs.
    write_scores(scores_path, &rows)?;
    // 4. The judge.
    let mut judge_error = None;
    if let Some(cfg) = what.judge {
        match judge_all(cfg, &questions, &answers, judge_progress) {
            Ok(judged) => {
                rows.extend(judged);
                write_scores(scores_path, &rows)?;
            }
            Err(e) => judge_error = Some(e),
        }
    }
    Ok(ScoredArms {
        answers,
        rows,
        judge_error,
    })
}

/// The context an answer was given: its arm's, which the row's `context` column must repeat.
fn answer_context(arm: &str, column: &str, path: &Path) -> Result<AnswerContext, ScoreError> {
    let id: ArmId = arm.parse().map_err(|e: finefail_core::BadArm| {
        ScoreError::BadInput(format!("{}: {e}", path.display()))
    })?;
    if column != id.context.as_str() {
        return Err(ScoreError::BadInput(format!(
            "{}: arm {arm} answered from context `{}`, but its row says `{column}`",
            path.display(),
            id.context
        )));
    }
    Ok(id.context)
}

/// Every answer judged `cfg.repeats` times, cached on disk by content hash; [`judge_answers`] sends
/// the one preflight first when anything is not cached.
fn judge_all(
    cfg: &JudgeConfig,
    questions: &HashMap<String, Question>,
    answers: &[Answer],
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Vec<ScoreRow>, ScoreError> {
    let requests: Vec<JudgeRequest> = answers
        .iter()
        .filter_map(|a| {
            let q = questions.get(&a.question_id)?;
            Some(JudgeRequest {
                arm: a.arm.clone(),
                question_id: a.question_id.clone(),
                question: q.question.clone(),
                references: q.answers.clone(),
                answer: a.answer.clone(),
            })
        })
        .collect();
    let judge = HttpJudge::new(cfg)?;
    let cache = ChatCache::open(ChatCache::default_judgments_dir())?;
    let total = requests.len() * cfg.repeats as usize;
    judge_answers(
        &judge,
        &requests,
        cfg.repeats,
        cfg.concurrency,
        Some(&cache),
        &|done, _| progress(done, total),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_arm_name_decides_the_context_and_the_row_must_agree() {
        let p = Path::new("answers.parquet");
        let ctx = |arm, column| answer_context(arm, column, p).ok();
        assert_eq!(ctx("d/m/n0", "retrieved"), Some(AnswerContext::Retrieved));
        assert_eq!(ctx("d/m/n50/s1@none", "none"), Some(AnswerContext::None));
        assert_eq!(ctx("d/m/n50/s1@gold", "gold"), Some(AnswerContext::Gold));
        assert_eq!(ctx("d/m/n50/s1@gold", "retrieved"), None);
        assert_eq!(ctx("d/m/n50", "retrieved"), None);
    }
}
