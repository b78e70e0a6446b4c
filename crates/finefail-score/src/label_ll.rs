//! Label questions scored by log-likelihood (issue 25): from an arm's `label_ll.parquet` (written by
//! answering beside `answers.parquet`), per label question `label_ll_accuracy` (the label with the
//! largest log-probability is the gold one, lm-eval's `acc`), `label_ll_accuracy_norm` (the same on
//! log-probability per character, `acc_norm`), and each label's log-probability as a
//! `label_ll_logprob_{label}` row, kept for audit and never compared.
//!
//! Ties go to the first label in the table's order (the label set's: yes, no, maybe), as numpy's
//! `argmax` does in lm-eval. The spelling rule (`yes` + `Yes`) was applied by the writer: the table's
//! `log_prob` is already the label's, whatever its case.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use finefail_data::tables::LabelLlRecord;

use crate::record::{Answer, Question, ScoreRow};
use crate::{Metric, ScoreError};

/// Index of the largest value, the first one on ties; NaN is never chosen.
fn argmax_first(values: &[f64]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, &v) in values.iter().enumerate() {
        if !v.is_nan() && best.is_none_or(|b| v > values[b]) {
            best = Some(i);
        }
    }
    best
}

/// The score rows of one answer file's label log-likelihood table (`source`, for errors).
///
/// Bad input, naming the file: a row for an arm the answers do not have, for a question that is not
/// a label question of the dataset, a label twice for one question, a gold label that was not
/// scored, a NaN score, or a label question answered in the file but missing from the table (a
/// table from another run: rerun the answer step).
pub fn label_ll_rows(
    questions: &HashMap<String, Question>,
    answers: &[Answer],
    table: &[LabelLlRecord],
    source: &Path,
) -> Result<Vec<ScoreRow>, ScoreError> {
    let bad = |m: String| ScoreError::BadInput(format!("{}: {m}", source.display()));
    let arms: BTreeSet<&str> = answers.iter().map(|a| a.arm.as_str()).collect();
    // (arm, question) -> its rows, in table order.
    let mut order: Vec<(&str, &str)> = Vec::new();
    let mut by_question: HashMap<(&str, &str), Vec<&LabelLlRecord>> = HashMap::new();
    for r in table {
        if !arms.contains(r.arm.as_str()) {
            return Err(bad(format!(
                "label log-likelihood of arm {}, which has no answers there",
                r.arm
            )));
        }
        let key = (r.arm.as_str(), r.question_id.as_str());
        let rows = by_question.entry(key).or_insert_with(|| {
            order.push(key);
            Vec::new()
        });
        if rows.iter().any(|x| x.label == r.label) {
            return Err(bad(format!(
                "question `{}` has label `{}` twice",
                r.question_id,
                r.label.as_str()
            )));
        }
        rows.push(r);
    }
    for a in answers {
        let is_label = questions
            .get(&a.question_id)
            .is_some_and(|q| q.gold_label().is_some());
        if is_label && !by_question.contains_key(&(a.arm.as_str(), a.question_id.as_str())) {
            return Err(bad(format!(
                "arm {} answered label question `{}` but has no label log-likelihood for it; \
                 the table is from another answer run (rerun the answer step)",
                a.arm, a.question_id
            )));
        }
    }
    let mut out = Vec::with_capacity(order.len() * 5);
    for key @ (arm, qid) in order {
        let rows = &by_question[&key];
        let gold = questions
            .get(qid)
            .and_then(Question::gold_label)
            .ok_or_else(|| bad(format!("`{qid}` is not a label question of the dataset")))?;
        let gold = gold.trim().to_lowercase();
        if !rows.iter().any(|r| r.label.as_str() == gold) {
            return Err(bad(format!(
                "question `{qid}`: its gold label `{gold}` was not scored"
            )));
        }
        let raw: Vec<f64> = rows.iter().map(|r| r.log_prob).collect();
        let norm: Vec<f64> = rows.iter().map(|r| r.norm_log_prob).collect();
        let (Some(best), Some(best_norm)) = (argmax_first(&raw), argmax_first(&norm)) else {
            return Err(bad(format!("question `{qid}`: every label's score is NaN")));
        };
        let row = |metric, value: f64| ScoreRow {
            arm: arm.to_string(),
            question_id: qid.to_string(),
            metric,
            value: Some(value),
            repeat: 0,
            judge: None,
            error: None,
        };
        let hit = |i: usize| f64::from(u8::from(rows[i].label.as_str() == gold));
        out.push(row(Metric::LabelLlAccuracy, hit(best)));
        out.push(row(Metric::LabelLlAccuracyNorm, hit(best_norm)));
        for r in rows {
            if !r.log_prob.is_finite() {
                return Err(bad(format!(
                    "question `{qid}`: log-probability of `{}` is {}",
                    r.label.as_str(),
                    r.log_prob
                )));
            }
            out.push(row(Metric::label_ll_logprob(r.label), r.log_prob));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use finefail_data::Label;

    fn question(id: &str, label: Option<&str>) -> (String, Question) {
        let q = Question {
            id: id.into(),
            question: "Does it?".into(),
            answers: label.map(|l| vec![l.to_string()]).unwrap_or_default(),
            answer_type: if label.is_some() { "label" } else { "free" }.into(),
            label: label.map(str::to_owned),
            answerable: true,
            gold_doc_ids: vec![],
        };
        (id.to_string(), q)
    }

    fn answer(qid: &str) -> Answer {
        Answer {
            arm: "d/m/n0".into(),
            question_id: qid.into(),
            answer: "Yes.".into(),
            answer_tokens: 2,
        }
    }

    fn rec(qid: &str, label: Label, log_prob: f64) -> LabelLlRecord {
        LabelLlRecord {
            arm: "d/m/n0".into(),
            question_id: qid.into(),
            label,
            log_prob,
            norm_log_prob: log_prob / label.as_str().chars().count() as f64,
            log_prob_lower: log_prob,
            log_prob_capital: f64::NEG_INFINITY,
            ms: 1,
        }
    }

    fn value(rows: &[ScoreRow], qid: &str, m: Metric) -> Option<f64> {
        rows.iter()
            .find(|r| r.question_id == qid && r.metric == m)
            .and_then(|r| r.value)
    }

    /// Hand-made table. q1 (gold no): sums yes −2.0, no −1.9, maybe −4.0 → acc picks no (right);
    /// per character yes −0.667, no −0.95, maybe −0.8 → acc_norm picks yes (wrong). q2 (gold no):
    /// a tie, −1.5 both → the first label, yes: wrong for both rules. q3 (gold maybe): maybe is
    /// likeliest either way. A free-text question has no rows.
    #[test]
    fn accuracy_and_norm_accuracy_from_a_hand_made_table() {
        let questions: HashMap<String, Question> = [
            question("q1", Some("no")),
            question("q2", Some("no")),
            question("q3", Some("maybe")),
            question("f", None),
        ]
        .into_iter()
        .collect();
        let answers = ["q1", "q2", "q3", "f"].map(answer);
        let table = vec![
            rec("q1", Label::Yes, -2.0),
            rec("q1", Label::No, -1.9),
            rec("q1", Label::Maybe, -4.0),
            rec("q2", Label::Yes, -1.5),
            rec("q2", Label::No, -1.5),
            rec("q3", Label::Yes, -3.0),
            rec("q3", Label::No, -3.0),
            rec("q3", Label::Maybe, -0.5),
        ];
        let rows = label_ll_rows(&questions, &answers, &table, Path::new("t.parquet")).unwrap();
        let acc = Metric::LabelLlAccuracy;
        let norm = Metric::LabelLlAccuracyNorm;
        assert_eq!(value(&rows, "q1", acc), Some(1.0));
        assert_eq!(value(&rows, "q1", norm), Some(0.0));
        assert_eq!(value(&rows, "q2", acc), Some(0.0));
        assert_eq!(value(&rows, "q2", norm), Some(0.0));
        assert_eq!(value(&rows, "q3", acc), Some(1.0));
        assert_eq!(value(&rows, "q3", norm), Some(1.0));
        assert_eq!(value(&rows, "q1", Metric::LabelLlLogprobNo), Some(-1.9));
        assert_eq!(value(&rows, "q3", Metric::LabelLlLogprobMaybe), Some(-0.5));
        assert_eq!(value(&rows, "q2", Metric::LabelLlLogprobMaybe), None);
        assert!(rows.iter().all(|r| r.question_id != "f"));
        assert_eq!(rows.len(), 3 * 2 + 8);
    }

    /// The spelling rule as the table carries it: `no` is less likely than `yes` lowercase, but
    /// `No` capitalised carries most of its mass; the label's `log_prob` (their log-sum-exp) decides.
    #[test]
    fn the_label_s_summed_spellings_decide_not_one_spelling() {
        let questions: HashMap<String, Question> =
            [question("q", Some("no"))].into_iter().collect();
        let lse = |a: f64, b: f64| (a.exp() + b.exp()).ln();
        let mut yes = rec("q", Label::Yes, lse(0.2f64.ln(), 0.05f64.ln()));
        (yes.log_prob_lower, yes.log_prob_capital) = (0.2f64.ln(), 0.05f64.ln());
        let mut no = rec("q", Label::No, lse(0.1f64.ln(), 0.5f64.ln()));
        (no.log_prob_lower, no.log_prob_capital) = (0.1f64.ln(), 0.5f64.ln());
        let rows = label_ll_rows(&questions, &[answer("q")], &[yes, no], Path::new("t")).unwrap();
        assert_eq!(value(&rows, "q", Metric::LabelLlAccuracy), Some(1.0));
        let p_no = value(&rows, "q", Metric::LabelLlLogprobNo).unwrap().exp();
        assert!((p_no - 0.6).abs() < 1e-12, "{p_no}");
    }

    #[test]
    fn tables_that_do_not_fit_the_answers_are_refused() {
        let questions: HashMap<String, Question> = [
            question("q1", Some("yes")),
            question("q2", Some("no")),
            question("f", None),
        ]
        .into_iter()
        .collect();
        let answers = ["q1", "q2"].map(answer);
        let p = Path::new("answers/x/label_ll.parquet");
        let err = |table: &[LabelLlRecord], answers: &[Answer]| {
            let e = label_ll_rows(&questions, answers, table, p).unwrap_err();
            assert!(e.is_bad_input(), "{e}");
            assert!(e.to_string().contains("label_ll.parquet"), "{e}");
            e.to_string()
        };
        // q2 answered but not scored.
        let e = err(
            &[rec("q1", Label::Yes, -1.0), rec("q1", Label::No, -2.0)],
            &answers,
        );
        assert!(e.contains("`q2`"), "{e}");
        // A label twice.
        let twice = [rec("q1", Label::Yes, -1.0), rec("q1", Label::Yes, -2.0)];
        assert!(err(&twice, &answers[..1]).contains("twice"));
        // The gold label never scored.
        let no_gold = [rec("q1", Label::No, -1.0), rec("q1", Label::Maybe, -2.0)];
        assert!(err(&no_gold, &answers[..1]).contains("gold label `yes`"));
        // A free-text question.
        let free = [answer("f")];
        assert!(err(&[rec("f", Label::Yes, -1.0)], &free).contains("not a label question"));
        // Another arm.
        let mut other = rec("q1", Label::Yes, -1.0);
        other.arm = "d/m/n4/s0".into();
        assert!(err(&[other], &answers[..1]).contains("d/m/n4/s0"));
    }

    /// In `comparison.json` the two accuracies are secondary entries and the per-label
    /// log-probabilities have none; naming a label log-likelihood metric primary is bad input.
    #[test]
    fn comparisons_keep_the_accuracies_secondary_and_skip_the_log_probabilities() {
        let mut rows = Vec::new();
        for (arm, offset) in [("d/m/n0", 0.0), ("d/m/n4/s0", 0.1)] {
            for q in 0..6 {
                let qid = format!("q{q}");
                for (metric, v) in [
                    (Metric::LabelAccuracy, f64::from(q % 2)),
                    (Metric::LabelLlAccuracy, f64::from((q + 1) % 2)),
                    (Metric::LabelLlAccuracyNorm, 1.0),
                    (
                        Metric::LabelLlLogprobYes,
                        -1.0 - offset - f64::from(q) / 10.0,
                    ),
                    (Metric::LabelLlLogprobNo, -2.0 + offset),
                ] {
                    rows.push(ScoreRow {
                        arm: arm.into(),
                        question_id: qid.clone(),
                        metric,
                        value: Some(v),
                        repeat: 0,
                        judge: None,
                        error: None,
                    });
                }
            }
        }
        let cfg = crate::StatsConfig {
            bootstrap: crate::MIN_BOOTSTRAP,
            ..Default::default()
        };
        let out = crate::compare_run(&rows, &cfg).unwrap();
        let metrics: BTreeSet<Metric> = out.iter().map(|c| c.metric).collect();
        assert_eq!(
            metrics,
            [
                Metric::LabelAccuracy,
                Metric::LabelLlAccuracy,
                Metric::LabelLlAccuracyNorm
            ]
            .into_iter()
            .collect()
        );
        assert!(out
            .iter()
            .all(|c| c.primary == (c.metric == Metric::LabelAccuracy)));
        for m in [Metric::LabelLlAccuracy, Metric::LabelLlLogprobYes] {
            let cfg = crate::StatsConfig {
                primary: Some(vec![m]),
                ..cfg.clone()
            };
            let e = crate::compare_run(&rows, &cfg).unwrap_err();
            assert!(e.is_bad_input() && e.to_string().contains(m.name()), "{e}");
        }
    }

    #[test]
    fn argmax_takes_the_first_of_ties_and_skips_nan() {
        assert_eq!(argmax_first(&[-1.0, -0.5, -0.5]), Some(1));
        assert_eq!(argmax_first(&[f64::NAN, -3.0, -4.0]), Some(1));
        assert_eq!(argmax_first(&[f64::NAN]), None);
    }
}
