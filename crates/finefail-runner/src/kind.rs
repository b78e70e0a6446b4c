//! The kinds of step, in graph order. A kind's name is part of the on-disk contract: it starts the
//! step's id, it is hashed into the step's input hash (so a renamed kind would rerun every cached
//! step), it is what `--until` takes and what `state.json` records.

use finefail_core::files;
use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// What a step does; ordered as the graph runs them, so `kind <= until` selects a prefix of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StepKind {
    /// A dataset into canonical tables: `data/{dataset}/`.
    Prepare,
    /// Retrieval for every question of a dataset, shared by all arms: `retrieval/{dataset}/`.
    Retrieve,
    /// One LoRA adapter per (dataset, model, N, seed): `adapters/…`.
    Finetune,
    /// One arm's answers to the test set: `answers/{arm}/`.
    Answer,
    /// One arm's scores: `scores/{arm}/`.
    Score,
    /// Every fine-tuned arm against its base arm: `comparison.json`.
    Compare,
    /// The report and the per-question tables: `report/`.
    Report,
}

impl StepKind {
    /// Every kind, in graph order (what `--until` accepts, what `--plan` lists).
    pub const ALL: [StepKind; 7] = [
        StepKind::Prepare,
        StepKind::Retrieve,
        StepKind::Finetune,
        StepKind::Answer,
        StepKind::Score,
        StepKind::Compare,
        StepKind::Report,
    ];

    /// The kind's name: the first part of a step id and the bytes the input hash covers.
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Prepare => "prepare",
            StepKind::Retrieve => "retrieve",
            StepKind::Finetune => "finetune",
            StepKind::Answer => "answer",
            StepKind::Score => "score",
            StepKind::Compare => "compare",
            StepKind::Report => "report",
        }
    }

    /// Kinds that run a model and so get the Slurm GPU request (`gres`); the others use CPUs only.
    pub fn uses_gpu(self) -> bool {
        matches!(self, StepKind::Finetune | StepKind::Answer)
    }

    /// Sub-folders a step of this kind keeps inside its output for itself: state that lets a killed
    /// step resume where it was (finefail-train's `checkpoints/`, finefail-rag's answer `parts/`).
    /// They move into place with the output, but are not what the step produced, so the output hash
    /// (and with it every later step's input hash) leaves them out.
    pub fn kept_dirs(self) -> &'static [&'static str] {
        match self {
            StepKind::Finetune => &[files::CHECKPOINTS_DIR],
            StepKind::Answer => &[files::ANSWER_PARTS],
            StepKind::Prepare
            | StepKind::Retrieve
            | StepKind::Score
            | StepKind::Compare
            | StepKind::Report => &[],
        }
    }
}

impl fmt::Display for StepKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StepKind {
    type Err = String;

    /// A kind by name; the error lists the names (`--until` shows it to the user).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StepKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = StepKind::ALL.iter().map(|k| k.as_str()).collect();
                format!("`{s}` is not a step kind; use one of {}", names.join(", "))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_contract_and_round_trip() {
        let names: Vec<&str> = StepKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(
            names,
            ["prepare", "retrieve", "finetune", "answer", "score", "compare", "report"]
        );
        for k in StepKind::ALL {
            assert_eq!(k.as_str().parse::<StepKind>(), Ok(k));
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        assert!(StepKind::ALL.windows(2).all(|w| w[0] < w[1]));
        assert!("train".parse::<StepKind>().is_err());
    }
}
