//! The in-context baseline's prompt (`finefail_rag::icl_prompt`, issue 25) on the tiny prepared
//! dataset: its demonstrations are the seed's first K training questions (so a subset of every
//! N ≥ K training set), answered with the training target; with retrieval they carry the chunks a
//! `rag` fine-tune would see; the conversation is counted with the tiny model's own template and
//! tokenizer, and K demonstrations that do not fit are bad input. Here, not in finefail-rag's
//! tests, because the training target and subsets are this crate's (it depends on finefail-rag).

mod common;

use common::Fixture;
use finefail_data::tables::{write_retrieval, RetrievalRow};
use finefail_data::{Chunk, QaRecord};
use finefail_model::chat::{ChatMessage, ChatTemplate};
use finefail_model::tokenizer::Tokenizer;
use finefail_rag::icl_prompt::{demonstration_records, demonstrations, icl_messages};
use finefail_rag::rag_prompt::{rag_messages, AnswerForm};
use finefail_train::examples::{target_answer, train_subset_records};

/// Pool of the fixture: 16 questions less 2 test and 2 validation.
const POOL: usize = 12;

fn target(rec: &QaRecord) -> Result<String, String> {
    target_answer(rec).map_err(|e| e.to_string())
}

fn ids(recs: &[QaRecord]) -> Vec<String> {
    recs.iter().map(|r| r.id.clone()).collect()
}

#[test]
fn demonstrations_are_the_seed_s_first_k_training_questions() {
    let fx = Fixture::new();
    for seed in [0, 1, 7] {
        for k in [0, 1, 4, POOL] {
            let demos = ids(&demonstration_records(&fx.data, k, seed).unwrap());
            assert_eq!(
                demos,
                ids(&train_subset_records(&fx.data, k, seed).unwrap()),
                "seed {seed}, K {k}"
            );
            for n in k..=POOL {
                let train = ids(&train_subset_records(&fx.data, n, seed).unwrap());
                assert_eq!(demos[..], train[..k], "seed {seed}, K {k}, N {n}");
            }
        }
    }
    let s0 = ids(&demonstration_records(&fx.data, 4, 0).unwrap());
    let s1 = ids(&demonstration_records(&fx.data, 4, 1).unwrap());
    assert_ne!(s0, s1, "another seed draws other demonstrations");
    let err = demonstration_records(&fx.data, POOL + 1, 0).unwrap_err();
    assert!(err.is_bad_input(), "{err}");
}

#[test]
fn demonstrations_answer_with_the_training_target_and_are_deterministic() {
    let fx = Fixture::new();
    let demos = demonstrations(&fx.data, POOL, 0, None, &target).unwrap();
    let recs = train_subset_records(&fx.data, POOL, 0).unwrap();
    assert!(
        recs.iter().any(|r| !r.answerable),
        "the pool has unanswerable questions"
    );
    for (d, r) in demos.iter().zip(&recs) {
        assert_eq!(d.id, r.id);
        assert_eq!(d.question, r.question);
        assert_eq!(d.answer, target_answer(r).unwrap());
        assert!(
            d.chunks.is_empty(),
            "no retrieval: closed book, as `qa` trains"
        );
    }
    assert_eq!(
        demos,
        demonstrations(&fx.data, POOL, 0, None, &target).unwrap()
    );
}

#[test]
fn with_retrieval_each_demonstration_carries_its_top_k_chunks() {
    let fx = Fixture::new();
    let mut chunks = Vec::new();
    let mut rows = Vec::new();
    for r in common::records() {
        for rank in 1..=3u32 {
            let id = format!("{}#{rank}", r.id);
            let text = format!("the sky is blue {rank}");
            chunks.push(Chunk {
                chunk_id: id.clone(),
                doc_id: r.id.clone(),
                start: 0,
                end: text.len() as u64,
                text,
            });
            rows.push(RetrievalRow {
                question_id: r.id.clone(),
                rank,
                chunk_id: id,
                score: 1.0 / f64::from(rank),
            });
        }
    }
    finefail_data::tables::write_chunks(&fx.data.join("chunks.parquet"), &chunks).unwrap();
    let ret = fx.tmp.path().join("retrieval");
    std::fs::create_dir_all(&ret).unwrap();
    write_retrieval(&ret.join("retrieval.parquet"), &rows).unwrap();

    let demos = demonstrations(&fx.data, 3, 1, Some((&ret, 2)), &target).unwrap();
    assert_eq!(demos.len(), 3);
    for d in &demos {
        assert_eq!(
            d.chunks,
            ["the sky is blue 1", "the sky is blue 2"],
            "{}",
            d.id
        );
    }
    let m = icl_messages(
        "tiny",
        &demos,
        "what is the colour of the sea ?",
        AnswerForm::Text,
        &[],
        10_000,
        &|m| m.iter().map(|x| x.content.len()).sum(),
    )
    .unwrap();
    // A demonstration's user turn is the evaluation's user turn of that question and context.
    assert_eq!(
        m[1],
        rag_messages(&demos[0].question, &demos[0].chunks, AnswerForm::Text)[1]
    );
    assert!(m[1].content.starts_with("Context:\n[1] the sky is blue 1"));
}

#[test]
fn the_budget_is_checked_in_the_model_s_own_tokens() {
    let fx = Fixture::new();
    let tok = Tokenizer::from_dir(&fx.model).unwrap();
    let tpl = ChatTemplate::from_dir(&fx.model).unwrap();
    // The evaluation's counter (ChatModel::prompt_tokens): rendered with the generation header.
    let count = |m: &[ChatMessage]| {
        tpl.render(m, true)
            .and_then(|t| tok.encode(&t, false))
            .map(|t| t.len())
            .unwrap_or(usize::MAX)
    };
    let question = "what is the colour of the sea ?";
    let chunks = vec![
        "the sky is blue".to_string(),
        "the grass is green".to_string(),
    ];
    // The tiny model's window (512) less 32 tokens of answer room.
    let budget = 512 - 32;
    let demos = demonstrations(&fx.data, 2, 0, None, &target).unwrap();
    let m = icl_messages(
        "tiny",
        &demos,
        question,
        AnswerForm::Text,
        &chunks,
        budget,
        &count,
    )
    .unwrap();
    let roles: Vec<&str> = m.iter().map(|x| x.role.as_str()).collect();
    assert_eq!(
        roles,
        ["system", "user", "assistant", "user", "assistant", "user"]
    );
    assert_eq!(m[5], rag_messages(question, &chunks, AnswerForm::Text)[1]);
    let used = count(&m);
    assert!(used <= budget, "{used} > {budget}");

    // All 12 demonstrations in a 60-token budget: bad input with K, the dataset and both counts.
    let all = demonstrations(&fx.data, POOL, 0, None, &target).unwrap();
    let err = icl_messages(
        "tiny",
        &all,
        question,
        AnswerForm::Text,
        &chunks,
        60,
        &count,
    )
    .unwrap_err();
    assert!(err.is_bad_input(), "{err}");
    let text = err.to_string();
    assert!(text.contains("eval.icl_shots = 12"), "{text}");
    assert!(text.contains("`tiny`"), "{text}");
    assert!(text.contains("budget is 60 tokens"), "{text}");
    // Needed: the smallest prompt the question can have (no chunk left: the closed-book system
    // line and the bare question) with every demonstration whole.
    let bare = rag_messages(question, &[], AnswerForm::Text);
    let needed = count(
        &[
            vec![bare[0].clone()],
            finefail_rag::icl_prompt::demonstration_turns(&all),
            vec![bare[1].clone()],
        ]
        .concat(),
    );
    assert!(text.contains(&format!("need {needed} tokens")), "{text}");
}
