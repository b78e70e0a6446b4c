//! Scoring arms from their `answers.parquet` files: the one orchestration that `finefail score` and
//! the runner's score step share, so both decide alike which answers are held to the retrieved
//! context and write the same `scores.parquet`.
//!
//! 1. Read the questions, the retrieved context (when a retrieval directory is given) and every
//!    answer file; each answer must be for a question of the dataset.
//! 2. Score every answer with the deterministic metrics. An answer's context is decided by its
//!    arm's name (`@none`, `@gold` suffix; none = retrieved): only retrieved-context answers get a
//!    `faithfulness` row. Retrieved-context answers come first, then the others, each in file order.
//! 3. Write `scores.parquet` with those rows, so a judge failure cannot lose them.
//! 4. With a judge: preflight, judge every answer (`repeats` times, cached on disk) and write
//!    `scores.parquet` again with the judge's rows added. A judge failure is handed back beside the
//!    deterministic rows, not instead of them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::inputs::{check_question_ids, read_answers, read_questions, retrieved_contexts};
use crate::judge::cache::JudgeCache;
use crate::judge::http::HttpJudge;
use crate::judge::{judge_answers, Judge, JudgeConfig, JudgeRequest};
use crate::record::{score_answers, Answer, Question, ScoreRow};
use crate::tables::write_scores;
use crate::ScoreError;

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
    for path in what.answer_files {
        let rows = read_answers(path)?;
        check_question_ids(&rows, &questions, path)?;
        answers.extend(rows.into_iter().map(|r| r.answer));
    }
    // 2. Deterministic metrics.
    let (retrieved, other): (Vec<Answer>, Vec<Answer>) = answers
        .iter()
        .cloned()
        .partition(|a| arm_context(&a.arm) == "retrieved");
    let mut rows = score_answers(&questions, &retrieved, &contexts)?;
    rows.extend(score_answers(&questions, &other, &HashMap::new())?);
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

/// The context an arm's answers were given, from its name: the `@` suffix, `retrieved` without one.
fn arm_context(arm: &str) -> &str {
    arm.split_once('@')
        .map_or("retrieved", |(_, context)| context)
}

/// Preflight, then every answer judged `cfg.repeats` times, cached on disk by content hash.
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
    judge.preflight()?;
    let cache = JudgeCache::open(JudgeCache::default_dir())?;
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
    fn the_arm_name_decides_the_context() {
        assert_eq!(arm_context("d/m/n0"), "retrieved");
        assert_eq!(arm_context("d/m/n50/s1@none"), "none");
        assert_eq!(arm_context("d/m/n50/s1@gold"), "gold");
    }
}
