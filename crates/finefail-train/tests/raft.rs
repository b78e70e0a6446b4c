//! `raft` examples (Zhang et al. 2024): the gold passage among D distractors, left out for a share
//! 1 − P of the examples, passages shuffled by seed; distractors never from a gold document, hard
//! negatives from retrieval first; recorded in `OUT/raft_examples.jsonl`.

mod common;

use common::Fixture;
use finefail_data::tables::{write_chunks, write_retrieval, RetrievalRow};
use finefail_data::{AnswerType, Chunk, QaRecord};
use finefail_model::chat::ChatTemplate;
use finefail_model::tokenizer::Tokenizer;
use finefail_train::examples::{build_examples, RunExamples};
use finefail_train::raft::{
    gold_chunk, raft_contexts, raft_example, ChunkIndex, RaftExample, RaftParams, RAFT_EXAMPLES,
};
use finefail_train::PromptFormat;
use std::collections::HashMap;

fn chunk(doc: &str, n: usize, text: &str) -> Chunk {
    Chunk {
        chunk_id: format!("{doc}#{n}"),
        doc_id: doc.to_string(),
        start: 0,
        end: text.chars().count() as u64,
        text: text.to_string(),
    }
}

fn record(i: usize, answer_type: AnswerType) -> QaRecord {
    QaRecord {
        id: format!("q{i:04}"),
        dataset: "synthetic".into(),
        question: format!("what is item {i} ?"),
        answers: vec![format!("value{i}")],
        answer_type,
        label: None,
        answerable: true,
        gold_doc_ids: vec![format!("doc{i}")],
        source_split: "train".into(),
    }
}

/// `n` questions, question i's gold document `doc{i}` in two chunks (the answer in the second),
/// plus `extra` documents that no question is about.
fn synthetic(n: usize, extra: usize) -> (Vec<QaRecord>, ChunkIndex) {
    let recs: Vec<QaRecord> = (0..n).map(|i| record(i, AnswerType::Span)).collect();
    let mut chunks = Vec::new();
    for i in 0..n {
        let doc = format!("doc{i}");
        chunks.push(chunk(&doc, 0, &format!("preamble of item {i}")));
        chunks.push(chunk(&doc, 1, &format!("item {i} is Value{i} indeed")));
    }
    for j in 0..extra {
        chunks.push(chunk(&format!("other{j}"), 0, &format!("unrelated {j}")));
    }
    (recs, ChunkIndex::new(chunks))
}

fn params(seed: u64) -> RaftParams {
    RaftParams {
        distractors: 3,
        gold_fraction: 0.8,
        seed,
    }
}

fn doc_of(chunk_id: &str) -> &str {
    chunk_id.split('#').next().unwrap()
}

#[test]
fn gold_fraction_distractors_and_order_over_1000_examples() {
    let (recs, index) = synthetic(1000, 0);
    let p = params(11);
    let examples: Vec<RaftExample> = recs
        .iter()
        .map(|r| raft_example(r, "train", &index, &[], &p))
        .collect();
    let kept = examples.iter().filter(|e| e.gold_included).count() as f64;
    let (n, prob) = (1000.0_f64, 0.8_f64);
    let sigma = (n * prob * (1.0 - prob)).sqrt();
    eprintln!(
        "gold kept in {kept} of 1000 examples (P = 0.8, 3 sigma = {:.1})",
        3.0 * sigma
    );
    assert!(
        (kept - n * prob).abs() <= 3.0 * sigma,
        "{kept} of 1000 examples kept their gold passage; expected 800 ± {:.1}",
        3.0 * sigma
    );
    let mut gold_position = [0usize; 4];
    for (r, e) in recs.iter().zip(&examples) {
        let gold_doc = &r.gold_doc_ids[0];
        // The gold passage is the gold document's chunk holding the answer.
        assert_eq!(e.gold_chunk_id.as_deref(), Some(&*format!("{gold_doc}#1")));
        let golds: Vec<usize> = (0..e.chunk_ids.len())
            .filter(|&k| doc_of(&e.chunk_ids[k]) == gold_doc)
            .collect();
        // Only the gold passage itself may come from the gold document, and only when kept.
        if e.gold_included {
            assert_eq!(golds.len(), 1, "{e:?}");
            assert_eq!(Some(&e.chunk_ids[golds[0]]), e.gold_chunk_id.as_ref());
            gold_position[golds[0]] += 1;
        } else {
            assert!(golds.is_empty(), "{e:?}");
        }
        // D distractors, all different, none retrieved (no retrieval given).
        assert_eq!(e.chunk_ids.len(), 3 + usize::from(e.gold_included), "{e:?}");
        let mut unique = e.chunk_ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), e.chunk_ids.len(), "{e:?}");
        assert_eq!(e.hard_negatives, 0);
    }
    // Shuffled: the gold passage lands in every position, none far from a quarter of the time.
    for (k, &c) in gold_position.iter().enumerate() {
        assert!(
            (c as f64 - kept / 4.0).abs() < 4.0 * (kept * 0.25 * 0.75).sqrt(),
            "gold at position {k}: {c} of {kept}"
        );
    }
    // P = 1 keeps every gold passage, P = 0 none.
    for (fraction, expected) in [(1.0, true), (0.0, false)] {
        let p = RaftParams {
            gold_fraction: fraction,
            ..params(11)
        };
        assert!(recs[..100]
            .iter()
            .all(|r| raft_example(r, "train", &index, &[], &p).gold_included == expected));
    }
}

#[test]
fn hard_negatives_come_first_and_distractors_fill_up_to_d_when_available() {
    let (recs, index) = synthetic(10, 5);
    let r = &recs[0];
    let p = params(3);
    // Retrieval ranks gold chunks among others: the first three non-gold ones are the distractors.
    let ranked: Vec<String> = [
        "doc0#0", "other2#0", "doc0#1", "doc4#0", "other2#0", "doc7#1", "other0#0",
    ]
    .map(String::from)
    .to_vec();
    let e = raft_example(r, "train", &index, &ranked, &p);
    let mut distractors: Vec<&str> = e
        .chunk_ids
        .iter()
        .map(String::as_str)
        .filter(|c| doc_of(c) != "doc0")
        .collect();
    distractors.sort_unstable();
    assert_eq!(distractors, ["doc4#0", "doc7#1", "other2#0"], "{e:?}");
    assert_eq!(e.hard_negatives, 3);
    // Fewer retrieved than D: topped up at random, still never from the gold document.
    let e = raft_example(r, "train", &index, &ranked[..2], &p);
    assert_eq!(e.hard_negatives, 1);
    assert!(e.chunk_ids.contains(&"other2#0".to_string()));
    assert_eq!(e.chunk_ids.len(), 3 + usize::from(e.gold_included));
    assert!(e
        .chunk_ids
        .iter()
        .all(|c| doc_of(c) != "doc0" || Some(c) == e.gold_chunk_id.as_ref()));

    // Fewer eligible chunks than D: every one of them, no repeats, no gold-document chunk.
    let small = ChunkIndex::new(vec![
        chunk("doc0", 0, "a"),
        chunk("doc0", 1, "value0"),
        chunk("doc0", 2, "c"),
        chunk("x", 0, "x"),
        chunk("y", 0, "y"),
    ]);
    let p = RaftParams {
        distractors: 4,
        gold_fraction: 1.0,
        seed: 5,
    };
    let e = raft_example(r, "train", &small, &[], &p);
    let mut ids = e.chunk_ids.clone();
    ids.sort();
    assert_eq!(ids, ["doc0#1", "x#0", "y#0"], "{e:?}");

    // A question with no gold document: distractors only, D of them.
    let mut orphan = record(99, AnswerType::Free);
    orphan.gold_doc_ids.clear();
    let e = raft_example(&orphan, "train", &index, &[], &params(3));
    assert_eq!((e.gold_chunk_id.as_deref(), e.gold_included), (None, false));
    assert_eq!(e.chunk_ids.len(), 3);
}

#[test]
fn the_gold_passage_is_the_answer_chunk_else_the_best_ranked_gold_chunk() {
    let (_, index) = synthetic(3, 0);
    let only_gold = RaftParams {
        distractors: 0,
        gold_fraction: 1.0,
        seed: 0,
    };
    let gold_of = |rec: &QaRecord, ranked: &[String]| {
        assert!(gold_chunk(rec, &index, ranked).is_some());
        raft_example(rec, "train", &index, ranked, &only_gold).chunk_ids
    };
    // A label answer is not looked for in the text: retrieval decides, else the first chunk.
    let mut rec = record(1, AnswerType::Label);
    rec.answers = vec!["yes".into()];
    let ranked = ["doc2#0", "doc1#1", "doc1#0"].map(String::from);
    assert_eq!(gold_of(&rec, &ranked), ["doc1#1"]);
    assert_eq!(gold_of(&rec, &[]), ["doc1#0"]);
    // A span answer found in a gold chunk picks that chunk whatever retrieval says.
    let rec = record(1, AnswerType::Span);
    assert_eq!(gold_of(&rec, &ranked[2..]), ["doc1#1"]);
}

#[test]
fn examples_are_a_pure_function_of_data_and_seed() {
    let (recs, index) = synthetic(200, 50);
    let by_id: HashMap<String, QaRecord> = recs.iter().map(|r| (r.id.clone(), r.clone())).collect();
    let ids: Vec<String> = recs.iter().map(|r| r.id.clone()).collect();
    let ranked: HashMap<String, Vec<String>> = recs
        .iter()
        .map(|r| (r.id.clone(), vec![format!("other{}#0", r.id.len() % 7)]))
        .collect();
    let run = |seed: u64, ids: &[String]| {
        raft_contexts(&[("train", ids)], &by_id, &index, &ranked, &params(seed)).unwrap()
    };
    let (ctx_a, a) = run(4, &ids);
    let (ctx_b, b) = run(4, &ids);
    assert_eq!(a, b);
    assert_eq!(ctx_a, ctx_b);
    let (_, c) = run(5, &ids);
    assert_ne!(a, c);
    let differing = a.iter().zip(&c).filter(|(x, y)| x != y).count();
    assert!(
        differing > 150,
        "only {differing} of 200 examples changed with the seed"
    );
    // A question's example does not depend on which subset it is in (N = 50 ⊂ N = 200).
    let (_, first) = run(4, &ids[..50]);
    assert_eq!(first[..], a[..50]);
    // The texts are the recorded passages, in prompt order.
    for e in &a {
        let texts: Vec<&str> = e.chunk_ids.iter().map(|c| index.text(c).unwrap()).collect();
        assert_eq!(ctx_a[&e.question_id], texts);
    }
}

/// The fixture dataset with a gold document per question (`{id}-doc`, one chunk saying the
/// colour) and a few unrelated chunks; `retrieval.parquet` ranks one other question's chunk
/// first for each question.
fn raft_fixture() -> (Fixture, Vec<QaRecord>, std::path::PathBuf) {
    let fx = Fixture::new();
    let mut recs = common::records();
    let mut chunks = Vec::new();
    for r in &mut recs {
        let doc = format!("{}-doc", r.id);
        let item = r.question.split(' ').nth(5).unwrap().to_string();
        chunks.push(chunk(&doc, 0, &format!("the {item} is {}", r.answers[0])));
        r.gold_doc_ids = vec![doc];
    }
    for (j, text) in ["the sky is blue", "the grass is green", "the snow is white"]
        .iter()
        .enumerate()
    {
        chunks.push(chunk(&format!("extra{j}"), 0, text));
    }
    common::write_data(&fx.data, &recs);
    write_chunks(&fx.data.join("chunks.parquet"), &chunks).unwrap();
    let rows: Vec<RetrievalRow> = recs
        .iter()
        .enumerate()
        .flat_map(|(i, r)| {
            let other = &recs[(i + 1) % recs.len()].id;
            [
                (1, format!("{other}-doc#0")),
                (2, format!("{}-doc#0", r.id)),
            ]
            .into_iter()
            .map(|(rank, chunk_id)| RetrievalRow {
                question_id: r.id.clone(),
                rank,
                chunk_id,
                score: 1.0 / f64::from(rank),
            })
        })
        .collect();
    let ret = fx.tmp.path().join("retrieval");
    std::fs::create_dir_all(&ret).unwrap();
    write_retrieval(&ret.join("retrieval.parquet"), &rows).unwrap();
    (fx, recs, ret)
}

#[test]
fn a_tiny_raft_fine_tune_runs_and_records_its_examples() {
    let _serial = common::serial();
    let (fx, recs, ret) = raft_fixture();
    let mut req = fx.request("raft");
    req.settings.train.format = PromptFormat::Raft;
    req.settings.train.max_steps = Some(2);
    req.settings.train.max_seq_len = 200;
    req.retrieval_dir = Some(ret);

    // The prompts are the `rag` prompts of the recorded passages.
    let run = RunExamples::load(&req).unwrap();
    let by_id: HashMap<String, QaRecord> = recs.iter().map(|r| (r.id.clone(), r.clone())).collect();
    let tok = Tokenizer::from_dir(&fx.model).unwrap();
    let tpl = ChatTemplate::from_dir(&fx.model).unwrap();
    let index = ChunkIndex::load(&fx.data).unwrap();
    let contexts: HashMap<String, Vec<String>> = run
        .raft
        .iter()
        .map(|e| {
            let texts = e
                .chunk_ids
                .iter()
                .map(|c| index.text(c).unwrap().to_string());
            (e.question_id.clone(), texts.collect())
        })
        .collect();
    let ids: Vec<String> = run.train.iter().map(|e| e.id.clone()).collect();
    let as_rag = build_examples(&ids, &by_id, Some(&contexts), &tpl, &tok, 200).unwrap();
    assert_eq!(as_rag, run.train);
    let prompt = tok
        .decode(&run.train[0].tokens[..run.train[0].prompt_len], false)
        .unwrap();
    assert!(
        prompt.contains("Context") && prompt.contains("[ 1 ]"),
        "{prompt}"
    );

    let summary = finefail_train::finetune(&req, &mut |_| {}).unwrap();
    assert_eq!(summary.steps, 2);
    let text = std::fs::read_to_string(req.out_dir.join(RAFT_EXAMPLES)).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), run.train.len() + run.val.len());
    assert_eq!((run.train.len(), run.val.len()), (8, 2));
    for (line, ex) in lines.iter().zip(&run.train) {
        assert_eq!(line["question_id"], ex.id.as_str());
        assert_eq!(line["split"], "train");
    }
    assert!(lines[8..].iter().all(|l| l["split"] == "val"));
    for l in &lines {
        let qid = l["question_id"].as_str().unwrap();
        let gold = format!("{qid}-doc#0");
        let ids: Vec<&str> = l["chunk_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        assert_eq!(l["gold_chunk_id"], gold.as_str());
        assert_eq!(l["gold_included"].as_bool().unwrap(), ids.contains(&&*gold));
        assert_eq!(
            ids.len(),
            3 + usize::from(l["gold_included"].as_bool().unwrap())
        );
        // The retrieved non-gold chunk is the first distractor taken.
        assert_eq!(l["hard_negatives"], 1, "{l}");
    }
    // Written again identically by a second run of the same request.
    let mut again = req.clone();
    again.out_dir = fx.tmp.path().join("raft-again");
    finefail_train::finetune(&again, &mut |_| {}).unwrap();
    assert_eq!(
        std::fs::read_to_string(again.out_dir.join(RAFT_EXAMPLES)).unwrap(),
        text
    );
}

#[test]
fn raft_without_gold_passages_or_chunks_is_bad_input() {
    let _serial = common::serial();
    let fx = Fixture::new();
    let mut req = fx.request("raft");
    req.settings.train.format = PromptFormat::Raft;
    // No chunks.parquet.
    let e = RunExamples::load(&req).unwrap_err();
    assert!(
        e.is_bad_input() && e.to_string().contains("chunks.parquet"),
        "{e}"
    );
    // Chunks, but no question has a gold document.
    write_chunks(
        &fx.data.join("chunks.parquet"),
        &[chunk("d", 0, "the sky is blue")],
    )
    .unwrap();
    let e = RunExamples::load(&req).unwrap_err();
    assert!(e.is_bad_input() && e.to_string().contains("gold"), "{e}");
    // A gold fraction outside [0, 1] is named by its key.
    req.settings.train.raft_gold_fraction = 1.5;
    let e = finefail_train::finetune(&req, &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("train.raft_gold_fraction"), "{e}");
}
