//! Where a run folder keeps each artefact (DESIGN "Runner", run layout) and the file names of the
//! canonical tables: spelled here once, so the runner that writes a run and the report that reads
//! it cannot disagree.
//!
//! ```text
//! experiments/runs/NAME/
//!   data/{dataset}/            qa.parquet, corpus.parquet, chunks.parquet, splits.json, …
//!   retrieval/{dataset}/       retrieval.parquet, retrieval_metrics.json
//!   adapters/{dataset}/{model}/n{N}/s{seed}/   adapter/, metrics.jsonl, train_summary.json, checkpoints/
//!   adapters/{dataset}/{model}/{format}/n{N}/s{seed}/   the same, when `sweep.formats` has several
//!   answers/{arm}/             answers.parquet, label_ll.parquet (parts/ while answering)
//!   scores/{arm}/              scores.parquet
//!   comparison.json  per_question.{parquet,csv}  report/  manifest.json  steps/
//!   run.lock                   while a `finefail run` owns the folder
//! ```

use std::path::{Path, PathBuf};

use crate::arm::ArmId;

/// File and folder names of the canonical tables and artefacts.
pub mod files {
    /// The questions of a prepared dataset.
    pub const QA: &str = "qa.parquet";
    /// The deduplicated documents of a prepared dataset.
    pub const CORPUS: &str = "corpus.parquet";
    /// The chunks retrieval ranks.
    pub const CHUNKS: &str = "chunks.parquet";
    /// Test, validation and the seeded training orders.
    pub const SPLITS: &str = "splits.json";
    /// The contamination check of a prepared dataset.
    pub const CONTAMINATION: &str = "contamination.json";
    /// `data stats` of a prepared dataset.
    pub const STATS: &str = "stats.json";
    /// Ranked chunks per question, shared by every arm.
    pub const RETRIEVAL: &str = "retrieval.parquet";
    /// Recall@k and MRR of the retrieval.
    pub const RETRIEVAL_METRICS: &str = "retrieval_metrics.json";
    /// One arm's answers.
    pub const ANSWERS: &str = "answers.parquet";
    /// The folder of answer part files written while answering (resume point).
    pub const ANSWER_PARTS: &str = "parts";
    /// One arm's log-likelihood of each label of each label question (beside `answers.parquet`;
    /// only when the test set has label questions and the arm is a local model).
    pub const LABEL_LL: &str = "label_ll.parquet";
    /// An in-context arm's demonstrations (K, seed, whether they carry context, their question
    /// ids in order), beside its answers: which training examples the arm was shown.
    pub const DEMONSTRATIONS: &str = "demonstrations.json";
    /// Scores of one arm's answers.
    pub const SCORES: &str = "scores.parquet";
    /// The paired comparisons of the whole study.
    pub const COMPARISON: &str = "comparison.json";
    /// Per-question table of every arm, parquet.
    pub const PER_QUESTION_PARQUET: &str = "per_question.parquet";
    /// Per-question table of every arm, CSV.
    pub const PER_QUESTION_CSV: &str = "per_question.csv";
    /// The report folder (`report.md`, `report.html`, plots).
    pub const REPORT_DIR: &str = "report";
    /// The report's page.
    pub const REPORT_HTML: &str = "report.html";
    /// Config, versions, seeds and hashes of a run.
    pub const MANIFEST: &str = "manifest.json";
    /// A fine-tune's adapter folder (PEFT layout).
    pub const ADAPTER_DIR: &str = "adapter";
    /// A fine-tune's resumable checkpoints.
    pub const CHECKPOINTS_DIR: &str = "checkpoints";
    /// A fine-tune's loss log, one JSON object per line.
    pub const TRAIN_METRICS: &str = "metrics.jsonl";
    /// A fine-tune's summary.
    pub const TRAIN_SUMMARY: &str = "train_summary.json";
    /// A step's record under `steps/<id>/`.
    pub const STEP_STATE: &str = "state.json";
    /// The run folder's owner (pid, host, start time) while a `finefail run` holds it.
    pub const RUN_LOCK: &str = "run.lock";
}

/// The folders and files of one run folder. [`RunLayout::relative`] gives the same paths relative
/// to the run folder (what the step plan records as a step's output).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunLayout {
    root: PathBuf,
}

impl RunLayout {
    /// The layout of the run folder `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Paths relative to the run folder.
    pub fn relative() -> Self {
        Self::new(PathBuf::new())
    }

    /// The run folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The prepared tables of `dataset` (`data/{dataset}`).
    pub fn data(&self, dataset: &str) -> PathBuf {
        self.root.join("data").join(dataset)
    }

    /// The retrieval of `dataset` (`retrieval/{dataset}`).
    pub fn retrieval(&self, dataset: &str) -> PathBuf {
        self.root.join("retrieval").join(dataset)
    }

    /// The fine-tune of (dataset, model, N, seed): `adapters/{dataset}/{model}/n{N}/s{seed}`.
    pub fn fine_tune(&self, dataset: &str, model: &str, n: u64, seed: u64) -> PathBuf {
        self.root
            .join("adapters")
            .join(dataset)
            .join(model)
            .join(format!("n{n}"))
            .join(format!("s{seed}"))
    }

    /// The fine-tune a fine-tuned `arm` answers with (its context aside):
    /// `adapters/{dataset}/{model}[/{format}]/n{N}/s{seed}`, the format segment only when the arm
    /// names one (a study with several training formats). `None` for the base and in-context arms,
    /// which have no adapter.
    pub fn fine_tune_of(&self, arm: &ArmId) -> Option<PathBuf> {
        let seed = arm.seed.filter(|_| arm.is_fine_tuned())?;
        let mut dir = self
            .root
            .join("adapters")
            .join(&arm.dataset)
            .join(&arm.model);
        if let Some(f) = &arm.format {
            dir = dir.join(f);
        }
        Some(dir.join(format!("n{}", arm.n)).join(format!("s{seed}")))
    }

    /// The answers of `arm` (`answers/{arm}`).
    pub fn answers(&self, arm: &ArmId) -> PathBuf {
        self.root.join("answers").join(arm.to_string())
    }

    /// The scores of `arm` (`scores/{arm}`).
    pub fn scores(&self, arm: &ArmId) -> PathBuf {
        self.root.join("scores").join(arm.to_string())
    }

    /// `comparison.json`.
    pub fn comparison(&self) -> PathBuf {
        self.root.join(files::COMPARISON)
    }

    /// `per_question.parquet`.
    pub fn per_question_parquet(&self) -> PathBuf {
        self.root.join(files::PER_QUESTION_PARQUET)
    }

    /// `per_question.csv`.
    pub fn per_question_csv(&self) -> PathBuf {
        self.root.join(files::PER_QUESTION_CSV)
    }

    /// The report folder.
    pub fn report(&self) -> PathBuf {
        self.root.join(files::REPORT_DIR)
    }

    /// `manifest.json`.
    pub fn manifest(&self) -> PathBuf {
        self.root.join(files::MANIFEST)
    }

    /// The lock file of the run's one owner ([`files::RUN_LOCK`]).
    pub fn lock(&self) -> PathBuf {
        self.root.join(files::RUN_LOCK)
    }

    /// The step records (`steps/`).
    pub fn steps(&self) -> PathBuf {
        self.root.join("steps")
    }

    /// One step's folder (`steps/<id>`, its `/` spelled `__` and `@` spelled `_at_`, so every step
    /// has one flat folder): its record ([`files::STEP_STATE`]), log and Slurm files.
    pub fn step(&self, id: &str) -> PathBuf {
        self.steps()
            .join(id.replace('/', "__").replace('@', "_at_"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arm::AnswerContext;

    #[test]
    fn the_layout_follows_the_design() {
        let run = RunLayout::new("runs/x");
        let arm = ArmId::new("d", "m", 50, Some(1), AnswerContext::Gold);
        assert_eq!(run.data("d"), Path::new("runs/x/data/d"));
        assert_eq!(run.retrieval("d"), Path::new("runs/x/retrieval/d"));
        assert_eq!(
            run.answers(&arm),
            Path::new("runs/x/answers/d/m/n50/s1@gold")
        );
        assert_eq!(run.scores(&arm), Path::new("runs/x/scores/d/m/n50/s1@gold"));
        assert_eq!(run.comparison(), Path::new("runs/x/comparison.json"));
        assert_eq!(
            RunLayout::relative().fine_tune("d", "m", 50, 1),
            Path::new("adapters/d/m/n50/s1")
        );
        assert_eq!(
            RunLayout::relative().fine_tune_of(&arm),
            Some(PathBuf::from("adapters/d/m/n50/s1"))
        );
        let raft =
            ArmId::new("d", "m", 50, Some(1), AnswerContext::Retrieved).with_format(Some("raft"));
        assert_eq!(
            run.fine_tune_of(&raft),
            Some(PathBuf::from("runs/x/adapters/d/m/raft/n50/s1"))
        );
        assert_eq!(
            run.answers(&raft),
            Path::new("runs/x/answers/d/m/raft/n50/s1")
        );
        let icl = ArmId::in_context("d", "m", 4, 1, AnswerContext::Retrieved);
        assert_eq!(run.fine_tune_of(&icl), None);
        assert_eq!(run.fine_tune_of(&arm.base()), None);
        assert_eq!(
            RunLayout::relative().comparison(),
            Path::new("comparison.json")
        );
        assert_eq!(
            run.step("answer/d/m/n0@none"),
            Path::new("runs/x/steps/answer__d__m__n0_at_none")
        );
    }
}
