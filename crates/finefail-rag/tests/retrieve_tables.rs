//! The `retrieve` step end to end: parquet tables in, `retrieval.parquet` and `retrieval_metrics.json`
//! out, for each retriever (dense and hybrid with the tiny BERT fixture), plus its bad inputs.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use finefail_data::tables::read_retrieval;
use finefail_data::tables::{write_chunks, write_qa};
use finefail_data::{AnswerType, Chunk, QaRecord};
use finefail_rag::retrieve::RetrievePhase;
use finefail_rag::{run_retrieve, RetrieveOptions, Retriever};

fn tiny_embedder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny_bert")
}

/// Four documents (one split in two chunks) and four questions, one without gold documents.
fn write_dataset(dir: &Path, with_chunks: bool) {
    let chunks: Vec<(&str, &str, &str)> = if with_chunks {
        vec![
            ("paris#0", "paris", "Paris is the capital of France."),
            (
                "paris#1",
                "paris",
                "The river Seine runs through Paris, France.",
            ),
            (
                "cats#0",
                "cats",
                "The cat sat on the mat and the dog ran in the park.",
            ),
            (
                "drug#0",
                "drug",
                "The drug trial showed an effect in the cancer study group.",
            ),
            (
                "fox#0",
                "fox",
                "The quick brown fox jumps over the lazy dog.",
            ),
        ]
    } else {
        vec![]
    };
    let chunks: Vec<Chunk> = chunks
        .iter()
        .map(|&(chunk_id, doc_id, text)| Chunk {
            chunk_id: chunk_id.into(),
            doc_id: doc_id.into(),
            start: 0,
            end: text.chars().count() as u64,
            text: text.into(),
        })
        .collect();
    write_chunks(&dir.join("chunks.parquet"), &chunks).unwrap();

    let questions = [
        ("q1", "What is the capital of France?", vec!["paris"]),
        (
            "q2",
            "Did the drug trial show an effect (cancer study)?",
            vec!["drug"],
        ),
        ("q3", "Which fox: \"quick\" or lazy?", vec!["fox"]),
        ("q4", "Where did the cat sit?", vec![]),
    ];
    let qa: Vec<QaRecord> = questions
        .iter()
        .map(|(id, question, gold)| QaRecord {
            id: (*id).into(),
            dataset: "t".into(),
            question: (*question).into(),
            answers: vec!["x".into()],
            answer_type: AnswerType::Free,
            label: None,
            answerable: true,
            gold_doc_ids: gold.iter().map(|g| g.to_string()).collect(),
            source_split: "test".into(),
        })
        .collect();
    write_qa(&dir.join("qa.parquet"), &qa).unwrap();
}

fn options(retriever: Retriever, cache: &Path) -> RetrieveOptions {
    RetrieveOptions {
        retriever,
        top_k: 2,
        embedder_dir: tiny_embedder(),
        cache_dir: Some(cache.to_path_buf()),
        device: Device::flex(),
    }
}

#[test]
fn every_retriever_writes_ranked_rows_and_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    write_dataset(&data, true);
    let cache = tmp.path().join("cache");
    for retriever in [Retriever::Bm25, Retriever::Dense, Retriever::Hybrid] {
        let out = tmp.path().join(retriever.name());
        let mut calls = Vec::new();
        let m = run_retrieve(&data, &out, &options(retriever, &cache), &mut |p| {
            calls.push(p)
        })
        .unwrap();
        // Each phase ends complete, in its own unit: chunks, then questions.
        let last = |phase| calls.iter().rev().find(|p| p.phase == phase).copied();
        if retriever.needs_embedder() {
            let chunks = last(RetrievePhase::EmbedChunks).unwrap();
            assert_eq!((chunks.done, chunks.total), (5, 5), "{retriever}");
            let qs = last(RetrievePhase::EmbedQuestions).unwrap();
            assert_eq!((qs.done, qs.total), (4, 4), "{retriever}");
            assert_eq!(calls.last().unwrap().phase, RetrievePhase::EmbedQuestions);
        } else {
            let qs = last(RetrievePhase::Rank).unwrap();
            assert_eq!((qs.done, qs.total), (4, 4), "{retriever}");
            assert_eq!(calls.len(), 4, "{retriever}: one report per question");
        }

        let rows = read_retrieval(&out.join("retrieval.parquet")).unwrap();
        for q in ["q1", "q2", "q3", "q4"] {
            let ranks: Vec<u32> = rows
                .iter()
                .filter(|r| r.question_id == q)
                .map(|r| r.rank)
                .collect();
            // BM25 returns only chunks sharing a term with the question (q2-q4 match one chunk each).
            let want = if retriever == Retriever::Bm25 && q != "q1" {
                vec![1]
            } else {
                vec![1, 2]
            };
            assert_eq!(ranks, want, "{retriever} {q}");
        }
        assert_eq!(
            m.questions_short,
            if retriever == Retriever::Bm25 { 3 } else { 0 }
        );
        assert!(rows
            .windows(2)
            .all(|w| w[0].question_id != w[1].question_id || w[0].score >= w[1].score));

        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("retrieval_metrics.json")).unwrap())
                .unwrap();
        assert_eq!(json["retriever"], retriever.name());
        assert_eq!(json["top_k"], 2);
        assert_eq!(json["questions"], 4);
        assert_eq!(json["questions_with_gold"], 3);
        assert_eq!(json["recall_at_k"].as_f64(), m.recall_at_k);
        if retriever == Retriever::Bm25 {
            // Each question shares its distinctive words with its gold chunk only.
            let top: Vec<&str> = ["q1", "q2", "q3"]
                .iter()
                .map(|q| {
                    rows.iter()
                        .find(|r| r.question_id == *q && r.rank == 1)
                        .unwrap()
                        .chunk_id
                        .as_str()
                })
                .collect();
            assert_eq!(top, vec!["paris#0", "drug#0", "fox#0"]);
            assert_eq!((m.recall_at_k, m.mrr), (Some(1.0), Some(1.0)));
        }
        // No stray temporary files next to the outputs.
        let names: Vec<String> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }
    // Dense and hybrid shared one cached corpus embedding and one of the questions.
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 2);
}

#[test]
fn cached_embeddings_give_the_same_rows() {
    let tmp = tempfile::tempdir().unwrap();
    write_dataset(tmp.path(), true);
    let cache = tmp.path().join("cache");
    let o = options(Retriever::Dense, &cache);
    run_retrieve(tmp.path(), &tmp.path().join("a"), &o, &mut |_| {}).unwrap();
    run_retrieve(tmp.path(), &tmp.path().join("b"), &o, &mut |_| {}).unwrap();
    let a = read_retrieval(&tmp.path().join("a/retrieval.parquet")).unwrap();
    let b = read_retrieval(&tmp.path().join("b/retrieval.parquet")).unwrap();
    assert_eq!(a, b);
}

#[test]
fn bad_inputs_are_reported_as_such() {
    let tmp = tempfile::tempdir().unwrap();
    write_dataset(tmp.path(), false);
    let cache = tmp.path().join("cache");
    let err = run_retrieve(
        tmp.path(),
        &tmp.path().join("out"),
        &options(Retriever::Bm25, &cache),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(
        err.is_bad_input() && err.to_string().contains("empty"),
        "{err}"
    );
    assert!(!tmp.path().join("out/retrieval.parquet").exists());

    write_dataset(tmp.path(), true);
    let mut o = options(Retriever::Dense, &cache);
    o.embedder_dir = tmp.path().join("no-such-embedder");
    let err = run_retrieve(tmp.path(), &tmp.path().join("out"), &o, &mut |_| {}).unwrap_err();
    assert!(err.is_bad_input(), "{err}");

    let err = run_retrieve(
        &tmp.path().join("missing"),
        &tmp.path().join("out"),
        &options(Retriever::Bm25, &cache),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(err.is_bad_input(), "{err}");

    let mut o = options(Retriever::Bm25, &cache);
    o.top_k = 0;
    assert!(
        run_retrieve(tmp.path(), &tmp.path().join("out"), &o, &mut |_| {})
            .unwrap_err()
            .is_bad_input()
    );
    assert!("tfidf".parse::<Retriever>().unwrap_err().is_bad_input());
}
