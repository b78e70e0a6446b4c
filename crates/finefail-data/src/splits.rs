//! Splits: a fixed test and validation set per dataset, and per training seed a permutation of the
//! remaining pool whose first N questions are the training subset of size N — so 200 ⊂ 500 ⊂ 1000
//! by construction, and a new seed changes nothing else.
//!
//! A training order is a pure function of (pool, seed), computed on demand by
//! [`Splits::train_subset`]; `splits.json` need not hold any. `data prepare --seeds` still writes the
//! orders of the seeds it is given, for inspection (the run's prepare step writes none, so a
//! prepared dataset does not depend on the seed list). A stored order is never the source: on
//! load every stored order is checked against the computation, and a mismatch is bad input.
//!
//! With `unit = document`, whole documents are assigned to test or validation (every question
//! about a test document stays out of the pool): NarrativeQA asks ~30 questions per story, and a
//! question-level split would let a model memorise the story from training answers.

use crate::error::{DataError, Result};
use crate::schema::QaRecord;
use crate::shuffle::{shuffle, SPLIT_STREAM, TRAIN_STREAM};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// What the test and validation sets are drawn in units of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SplitUnit {
    Question,
    Document,
}

impl SplitUnit {
    /// Parses `question` or `document`.
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        match s {
            "question" => Ok(Self::Question),
            "document" => Ok(Self::Document),
            _ => Err(format!(
                "split unit `{s}` is unknown; use question or document"
            )),
        }
    }
}

/// How to split a dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitConfig {
    pub unit: SplitUnit,
    /// Questions in the test set (with document units: whole documents until reached).
    pub test_size: usize,
    /// Questions in the validation set; None = 10 % of what is left after the test set, at most 100.
    pub val_size: Option<usize>,
    pub split_seed: u64,
    /// Training seeds whose orders are written into `splits.json`, for inspection only (every
    /// order is computed on demand; empty writes none).
    pub seeds: Vec<u64>,
}

/// The contents of `splits.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Splits {
    pub unit: SplitUnit,
    pub split_seed: u64,
    pub test: Vec<String>,
    pub val: Vec<String>,
    /// Everything not in test or val, in table order.
    pub pool: Vec<String>,
    /// `train_order(seed)` for the seeds asked for at prepare time (keys are decimal seeds), for
    /// inspection: absent when none were asked for; when present, [`Splits::load`] checks each
    /// against the computed order.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub train_order: BTreeMap<String, Vec<String>>,
}

impl Splits {
    /// Splits `questions` (in table order) as `config` says.
    pub fn make(questions: &[QaRecord], config: &SplitConfig) -> Result<Self> {
        let total = questions.len();
        if config.test_size == 0 {
            return Err(DataError::bad_input(
                "--test-size",
                "the test set must hold at least one question",
            ));
        }
        if config.test_size >= total {
            return Err(DataError::bad_input(
                "--test-size",
                format!("asked for {} test questions but the dataset has only {total}; lower --test-size", config.test_size),
            ));
        }
        // Groups of question indices that must stay together, in order of first appearance.
        let mut groups: Vec<Vec<usize>> = Vec::new();
        match config.unit {
            SplitUnit::Question => groups.extend((0..total).map(|i| vec![i])),
            SplitUnit::Document => {
                let mut by_doc: HashMap<&str, usize> = HashMap::new();
                for (i, q) in questions.iter().enumerate() {
                    let key = q
                        .gold_doc_ids
                        .first()
                        .map(String::as_str)
                        .unwrap_or(q.id.as_str());
                    match by_doc.get(key) {
                        Some(&g) => groups[g].push(i),
                        None => {
                            by_doc.insert(key, groups.len());
                            groups.push(vec![i]);
                        }
                    }
                }
            }
        }
        shuffle(&mut groups, config.split_seed, SPLIT_STREAM);
        let mut next = 0usize;
        let mut take = |want: usize| -> Vec<usize> {
            let mut taken = Vec::new();
            while taken.len() < want && next < groups.len() {
                taken.extend(&groups[next]);
                next += 1;
            }
            taken
        };
        let mut test = take(config.test_size);
        let left = total - test.len();
        let val_size = config.val_size.unwrap_or_else(|| (left / 10).min(100));
        let mut val = take(val_size);
        let in_split: std::collections::HashSet<usize> = test.iter().chain(&val).copied().collect();
        let pool: Vec<String> = (0..total)
            .filter(|i| !in_split.contains(i))
            .map(|i| questions[i].id.clone())
            .collect();
        // Within test and val keep table order: stable, and readable in reports.
        test.sort_unstable();
        val.sort_unstable();
        let ids = |v: &[usize]| {
            v.iter()
                .map(|&i| questions[i].id.clone())
                .collect::<Vec<_>>()
        };
        let mut splits = Splits {
            unit: config.unit,
            split_seed: config.split_seed,
            test: ids(&test),
            val: ids(&val),
            pool,
            train_order: BTreeMap::new(),
        };
        for &seed in &config.seeds {
            splits
                .train_order
                .insert(seed.to_string(), splits.compute_train_order(seed));
        }
        Ok(splits)
    }

    /// The pool permuted for `seed`: a pure function of (pool, seed).
    pub fn compute_train_order(&self, seed: u64) -> Vec<String> {
        let mut order = self.pool.clone();
        shuffle(&mut order, seed, TRAIN_STREAM);
        order
    }

    /// The training order for `seed`, always computed from (pool, seed) — never read from the
    /// stored `train_order`, which [`Splits::load`] checks instead.
    pub fn train_order(&self, seed: u64) -> Vec<String> {
        self.compute_train_order(seed)
    }

    /// Checks every stored training order against the computed one; the first that differs is
    /// named (a hand-edited file, or one written by other code).
    pub fn check_stored_orders(&self) -> std::result::Result<(), String> {
        for (key, stored) in &self.train_order {
            let seed: u64 = key
                .parse()
                .map_err(|_| format!("train_order key `{key}` is not a seed"))?;
            if *stored != self.compute_train_order(seed) {
                return Err(format!(
                    "the stored train_order of seed {seed} differs from the order computed from the \
                     pool (SplitMix64 Fisher–Yates); the file was edited or written by other code — \
                     prepare the dataset again"
                ));
            }
        }
        Ok(())
    }

    /// The training subset of size `n` for `seed`: the first `n` of the seed's order.
    pub fn train_subset(&self, seed: u64, n: usize) -> Result<Vec<String>> {
        if n > self.pool.len() {
            return Err(DataError::bad_input(
                finefail_core::files::SPLITS,
                format!("asked for {n} training questions but the pool holds only {} (after test and validation)", self.pool.len()),
            ));
        }
        let mut order = self.train_order(seed);
        order.truncate(n);
        Ok(order)
    }

    /// Reads `splits.json`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
        let splits: Self = serde_json::from_str(&text)
            .map_err(|e| DataError::bad_input(path, format!("not a valid splits.json: {e}")))?;
        splits
            .check_stored_orders()
            .map_err(|m| DataError::bad_input(path, m))?;
        Ok(splits)
    }

    /// Writes `splits.json` atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        Ok(finefail_core::atomic::write_json(path, self)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::AnswerType;

    fn questions(n: usize, per_doc: usize) -> Vec<QaRecord> {
        (0..n)
            .map(|i| QaRecord {
                id: format!("q{i}"),
                dataset: "t".into(),
                question: format!("question {i}"),
                answers: vec!["a".into()],
                answer_type: AnswerType::Free,
                label: None,
                answerable: true,
                gold_doc_ids: vec![format!("doc{}", i / per_doc)],
                source_split: "test".into(),
            })
            .collect()
    }

    fn config(unit: SplitUnit, test: usize, seeds: Vec<u64>) -> SplitConfig {
        SplitConfig {
            unit,
            test_size: test,
            val_size: None,
            split_seed: 0,
            seeds,
        }
    }

    #[test]
    fn sets_are_disjoint_and_complete() {
        let qs = questions(500, 1);
        let s = Splits::make(&qs, &config(SplitUnit::Question, 100, vec![0])).unwrap();
        assert_eq!(s.test.len(), 100);
        assert_eq!(s.val.len(), 40); // 10 % of 400
        assert_eq!(s.pool.len(), 360);
        let mut all: Vec<&String> = s.test.iter().chain(&s.val).chain(&s.pool).collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 500);
    }

    #[test]
    fn training_subsets_are_nested_for_every_seed() {
        let qs = questions(1500, 1);
        let s = Splits::make(&qs, &config(SplitUnit::Question, 200, vec![0, 1, 2])).unwrap();
        let test: std::collections::HashSet<_> = s.test.iter().chain(&s.val).collect();
        for seed in [0u64, 1, 2, 17] {
            let sizes = [0usize, 50, 200, 500, 1000];
            let subsets: Vec<Vec<String>> = sizes
                .iter()
                .map(|&n| s.train_subset(seed, n).unwrap())
                .collect();
            for w in subsets.windows(2) {
                assert_eq!(
                    &w[1][..w[0].len()],
                    &w[0][..],
                    "seed {seed}: smaller subset is not a prefix"
                );
            }
            assert!(subsets.last().unwrap().iter().all(|id| !test.contains(id)));
        }
        assert_ne!(
            s.train_subset(0, 50).unwrap(),
            s.train_subset(1, 50).unwrap()
        );
        // A stored order equals the on-demand computation.
        assert_eq!(s.train_order(1), s.compute_train_order(1));
    }

    /// The on-demand order is the one `data prepare` stored in `splits.json` before orders were
    /// computed on demand (pinned from that code for seeds 0, 1, 2), so no study's training
    /// subsets — and no comparison — change.
    #[test]
    fn on_demand_orders_equal_the_ones_prepare_used_to_store() {
        let s = Splits::make(&questions(30, 1), &config(SplitUnit::Question, 6, vec![])).unwrap();
        assert!(s.train_order.is_empty());
        let ids = |v: &str| v.split(' ').map(String::from).collect::<Vec<_>>();
        assert_eq!(s.test, ids("q1 q3 q10 q12 q27 q28"));
        assert_eq!(s.val, ids("q5 q24"));
        let pinned = [
            "q18 q2 q4 q6 q21 q15 q14 q13 q16 q7 q0 q17 q20 q11 q26 q23 q8 q19 q25 q29 q22 q9",
            "q7 q23 q21 q15 q22 q4 q25 q8 q29 q2 q19 q16 q0 q11 q20 q26 q13 q18 q6 q9 q17 q14",
            "q16 q25 q17 q14 q22 q13 q20 q19 q15 q18 q7 q6 q8 q2 q4 q11 q23 q9 q0 q26 q29 q21",
        ];
        for (seed, order) in pinned.iter().enumerate() {
            let seed = seed as u64;
            assert_eq!(s.train_subset(seed, 22).unwrap(), ids(order), "seed {seed}");
            assert_eq!(
                s.train_subset(seed, 5).unwrap(),
                ids(order)[..5],
                "seed {seed}"
            );
        }
    }

    /// A `splits.json` without `train_order` (what the run's prepare step writes) and an old one
    /// with stored orders both load; a stored order that disagrees with the computation is bad
    /// input naming the seed.
    #[test]
    fn stored_orders_are_optional_and_checked_on_load() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("splits.json");
        let qs = questions(30, 1);
        let bare = Splits::make(&qs, &config(SplitUnit::Question, 6, vec![])).unwrap();
        bare.save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("train_order"), "{text}");
        assert_eq!(Splits::load(&path).unwrap(), bare);

        let old = Splits::make(&qs, &config(SplitUnit::Question, 6, vec![0, 1, 2])).unwrap();
        assert_eq!(old.train_order.len(), 3);
        old.save(&path).unwrap();
        let loaded = Splits::load(&path).unwrap();
        assert_eq!(
            loaded.train_subset(1, 22).unwrap(),
            bare.train_subset(1, 22).unwrap()
        );

        let mut bad = old.clone();
        bad.train_order.get_mut("2").unwrap().swap(0, 1);
        bad.save(&path).unwrap();
        let err = Splits::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("seed 2") && err.contains("splits.json"),
            "{err}"
        );
    }

    #[test]
    fn asking_for_more_than_the_pool_says_how_many() {
        let qs = questions(50, 1);
        let s = Splits::make(&qs, &config(SplitUnit::Question, 10, vec![])).unwrap();
        let err = s.train_subset(0, 1000).unwrap_err().to_string();
        assert!(err.contains(&format!("only {}", s.pool.len())), "{err}");
    }

    #[test]
    fn document_unit_keeps_test_documents_out_of_the_pool() {
        let qs = questions(300, 30); // 10 documents of 30 questions
        let s = Splits::make(&qs, &config(SplitUnit::Document, 50, vec![0])).unwrap();
        assert_eq!(s.test.len(), 60); // two whole documents
        let doc_of = |id: &String| qs.iter().find(|q| &q.id == id).unwrap().gold_doc_ids[0].clone();
        let test_docs: std::collections::HashSet<_> =
            s.test.iter().chain(&s.val).map(doc_of).collect();
        assert!(s.pool.iter().all(|id| !test_docs.contains(&doc_of(id))));
    }

    #[test]
    fn bad_test_sizes_are_rejected() {
        let qs = questions(10, 1);
        assert!(Splits::make(&qs, &config(SplitUnit::Question, 10, vec![])).is_err());
        assert!(Splits::make(&qs, &config(SplitUnit::Question, 0, vec![])).is_err());
    }
}
