//! The synthetic run shared by the integration tests: two datasets (free-form `nqa`, label `pqa`),
//! two models, N = 50 and 100, two seeds, a closed-book base arm, one failed judgment.
#![allow(dead_code)]

use std::collections::HashMap;

use finefail_data::contamination::ContaminationReport;
use finefail_data::AnswerRecord;
use finefail_data::{AnswerType, Label, QaRecord};
use finefail_report::{DatasetInput, ReportInput, RetrievalSummary};
use finefail_score::{
    score_answers, Answer, Comparison, ComparisonFile, Metric, Question, ScoreRow, Verdict,
};

pub fn qa(dataset: &str, id: &str, answer: &str, label: Option<Label>, gold: &str) -> QaRecord {
    QaRecord {
        id: id.into(),
        dataset: dataset.into(),
        question: format!("Question {id}?"),
        answers: vec![answer.into()],
        answer_type: if label.is_some() {
            AnswerType::Label
        } else {
            AnswerType::Free
        },
        label,
        answerable: true,
        gold_doc_ids: vec![gold.into()],
        source_split: "test".into(),
    }
}

pub fn answer(arm: &str, id: &str, text: &str) -> AnswerRecord {
    AnswerRecord {
        arm: arm.into(),
        question_id: id.into(),
        context: arm
            .parse::<finefail_core::ArmId>()
            .map_or_else(|e| panic!("{e}"), |a| a.context.to_string()),
        answer: text.into(),
        prompt_tokens: 100,
        answer_tokens: text.split_whitespace().count() as u64,
        ms: 12,
    }
}

#[allow(clippy::too_many_arguments)]
pub fn comp(
    dataset: &str,
    model: &str,
    n: u64,
    metric: Metric,
    primary: bool,
    base_mean: f64,
    ft_mean: f64,
    ci: (f64, f64),
    p: f64,
    p_holm: Option<f64>,
    verdict: Option<Verdict>,
) -> Comparison {
    Comparison {
        dataset: dataset.into(),
        model: model.into(),
        n,
        kind: Default::default(),
        format: None,
        reference_format: None,
        icl_shots: None,
        reference_n: 0,
        context: finefail_core::AnswerContext::Retrieved,
        metric,
        primary,
        base_mean,
        ft_mean,
        diff: ft_mean - base_mean,
        ci_low: Some(ci.0),
        ci_high: Some(ci.1),
        ci_level: 0.95,
        p: Some(p),
        m: p_holm.map(|_| 4),
        p_holm,
        p_wilcoxon: Some(p),
        p_mcnemar: None,
        test: "pivot seeds×questions".into(),
        se: Some(0.03),
        df: Some(5.0),
        mde: Some(0.0812),
        components: None,
        verdict,
        seeds: vec![0, 1],
        questions: 6,
        seed_means: vec![0.8, 0.9],
        seed_sd: Some(0.0707),
        judge_sd: None,
        training_variance: "assessed".into(),
    }
}

/// The synthetic run. Questions: nqa (6 free-form), pqa (5 labels: yes yes yes no maybe).
pub fn input() -> ReportInput {
    let refs = [
        "Denver Broncos",
        "Paris",
        "blue whale",
        "1969",
        "Marie Curie",
        "the Nile",
    ];
    let nqa: Vec<QaRecord> = refs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            qa(
                "nqa",
                &format!("q{}", i + 1),
                r,
                None,
                &format!("d{}", i + 1),
            )
        })
        .collect();
    let labels = [Label::Yes, Label::Yes, Label::Yes, Label::No, Label::Maybe];
    let pqa: Vec<QaRecord> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| qa("pqa", &format!("p{}", i + 1), l.as_str(), Some(*l), "x"))
        .collect();

    let mut answers = Vec::new();
    let correct = |arm: &str, answers: &mut Vec<AnswerRecord>| {
        for (i, r) in refs.iter().enumerate() {
            answers.push(answer(arm, &format!("q{}", i + 1), r));
        }
    };
    for arm in [
        "nqa/m1/n0",
        "nqa/m1/n100/s0",
        "nqa/m1/n100/s1",
        "nqa/m2/n0",
        "nqa/m2/n50/s0",
        "nqa/m2/n50/s1",
        "nqa/m1/n0@none",
    ] {
        correct(arm, &mut answers);
    }
    // n50/s0 loses q1 (gold document not retrieved) and q3 (a long answer not in the context).
    for (i, r) in refs.iter().enumerate() {
        let text = match i {
            0 => "Broncos",
            2 => "It is some kind of animal living far out in deep seas",
            _ => r,
        };
        answers.push(answer("nqa/m1/n50/s0", &format!("q{}", i + 1), text));
        let text = if i == 0 { "Broncos" } else { r };
        answers.push(answer("nqa/m1/n50/s1", &format!("q{}", i + 1), text));
    }
    for (i, l) in labels.iter().enumerate() {
        answers.push(answer("pqa/m1/n0", &format!("p{}", i + 1), l.as_str()));
        answers.push(answer("pqa/m1/n50/s0", &format!("p{}", i + 1), "yes"));
    }

    // Deterministic scores from the score crate; contexts are the reference texts.
    let to_q = |r: &QaRecord| Question {
        id: r.id.clone(),
        question: r.question.clone(),
        answers: r.answers.clone(),
        answer_type: r.answer_type.as_str().into(),
        label: r.label.map(|l| l.as_str().to_owned()),
        answerable: r.answerable,
        gold_doc_ids: r.gold_doc_ids.clone(),
    };
    let questions: HashMap<String, Question> = nqa
        .iter()
        .chain(&pqa)
        .map(|r| (r.id.clone(), to_q(r)))
        .collect();
    let contexts: HashMap<String, String> = nqa
        .iter()
        .chain(&pqa)
        .map(|r| (r.id.clone(), format!("The answer is {}.", r.answers[0])))
        .collect();
    let plain: Vec<Answer> = answers
        .iter()
        .map(|a| Answer {
            arm: a.arm.clone(),
            question_id: a.question_id.clone(),
            answer: a.answer.clone(),
            answer_tokens: a.answer_tokens,
        })
        .collect();
    let mut scores = score_answers(&questions, &plain, &contexts).unwrap_or_default();
    scores.push(ScoreRow {
        arm: "nqa/m1/n50/s1".into(),
        question_id: "q2".into(),
        metric: Metric::Accuracy,
        value: None,
        repeat: 0,
        judge: Some("judge-x/v1".into()),
        error: Some("timed out after 3 retries".into()),
    });

    let comparisons = vec![
        comp(
            "nqa",
            "m1",
            50,
            Metric::TokenF1,
            true,
            1.0,
            0.8888889,
            (-0.2222, 0.0),
            0.0312,
            Some(0.0624),
            Some(Verdict::Inconclusive),
        ),
        comp(
            "nqa",
            "m1",
            50,
            Metric::AnswerRecall,
            true,
            1.0,
            0.875,
            (-0.25, -0.0417),
            0.00002,
            Some(0.0000321),
            Some(Verdict::Hurts),
        ),
        comp(
            "nqa",
            "m1",
            100,
            Metric::TokenF1,
            true,
            1.0,
            1.0,
            (0.0, 0.0),
            1.0,
            Some(1.0),
            Some(Verdict::Inconclusive),
        ),
        comp(
            "nqa",
            "m1",
            100,
            Metric::AnswerRecall,
            true,
            1.0,
            1.0,
            (0.0, 0.0),
            1.0,
            Some(1.0),
            Some(Verdict::Inconclusive),
        ),
        comp(
            "nqa",
            "m1",
            50,
            Metric::ExactMatch,
            false,
            1.0,
            0.75,
            (-0.5, 0.0),
            0.25,
            None,
            None,
        ),
        comp(
            "nqa",
            "m2",
            50,
            Metric::TokenF1,
            true,
            0.5,
            0.6234,
            (0.0512, 0.1987),
            0.0004,
            Some(0.0016),
            Some(Verdict::Helps),
        ),
        comp(
            "pqa",
            "m1",
            50,
            Metric::LabelAccuracy,
            true,
            1.0,
            0.6,
            (-0.8, 0.0),
            0.1573,
            Some(0.4719),
            Some(Verdict::Inconclusive),
        ),
    ];

    let retrieval: HashMap<String, Vec<String>> = (1..=6)
        .map(|i| {
            let first = if i == 1 {
                "d9#0".to_string()
            } else {
                format!("d{i}#0")
            };
            (format!("q{i}"), vec![first, "d8#1".to_string()])
        })
        .collect();
    ReportInput {
        run_name: "synthetic".into(),
        config_hash: "abc123".into(),
        comparison: ComparisonFile {
            config_hash: "abc123".into(),
            alpha: 0.05,
            primary_source: Default::default(),
            comparisons,
            trends: vec![],
        },
        scores,
        answers,
        fine_tunes: vec![
            finefail_report::FineTuneSummary {
                name: "nqa/m1/n50/s0".into(),
                steps: 7,
                examples: 50,
                final_loss: Some(0.98),
                final_val_loss: Some(0.99),
                initial_val_loss: Some(1.0),
            },
            finefail_report::FineTuneSummary {
                name: "nqa/m1/n100/s0".into(),
                steps: 13,
                examples: 100,
                final_loss: Some(0.8),
                final_val_loss: None,
                initial_val_loss: None,
            },
        ],
        datasets: vec![
            DatasetInput {
                name: "nqa".into(),
                questions: nqa,
                retrieval,
                retrieval_metrics: Some(RetrievalSummary {
                    retriever: "bm25".into(),
                    top_k: 2,
                    questions: 6,
                    questions_with_gold: 6,
                    recall_at_k: Some(5.0 / 6.0),
                    mrr: Some(5.0 / 6.0),
                    questions_short: 0,
                }),
                contamination: Some(ContaminationReport {
                    test: 6,
                    pool: 40,
                    ngram: 3,
                    jaccard_threshold: 0.8,
                    exact_duplicates: 1,
                    near_duplicates: 2,
                    answer_leaks: 3,
                    examples: vec![],
                }),
            },
            DatasetInput {
                name: "pqa".into(),
                questions: pqa,
                retrieval: HashMap::new(),
                retrieval_metrics: None,
                contamination: None,
            },
        ],
        kept_stale: vec![],
    }
}
