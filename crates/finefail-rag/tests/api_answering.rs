//! The API answering arm against a scripted local server: the same RAG prompt messages as local
//! arms, `answers.parquet` rows with the endpoint's usage counts, the answer cache, resuming after
//! a question failed, and bad input (unreachable endpoint, missing key).

use std::path::{Path, PathBuf};
use std::time::Duration;

use finefail_data::chat_api::{ChatApiConfig, ChatCache, ChatParams};
use finefail_data::tables::read_answers as read_answer_records;
use finefail_data::{ChunkConfig, ColumnMap, Format, PrepareOptions, SplitConfig, SplitUnit};
use finefail_rag::answering::AnswerContext;
use finefail_rag::api_answering::{answer_test_set_api, ApiAnswerOptions};
use finefail_rag::rag_prompt::{SYSTEM_CLOSED_BOOK, SYSTEM_WITH_CONTEXT};
use finefail_rag::retrieve::{run_retrieve, RetrieveOptions, Retriever};
use finefail_rag::RagError;

#[path = "../../finefail-data/tests/scripted_server/mod.rs"]
mod scripted_server;

use scripted_server::{body_of, chat, chat_with_usage, dead_url, is_preflight, serve};

const FRUITS: [(&str, &str); 8] = [
    ("apple", "red"),
    ("banana", "yellow"),
    ("lime", "green"),
    ("plum", "purple"),
    ("orange", "orange"),
    ("cherry", "dark red"),
    ("kiwi", "brown"),
    ("grape", "violet"),
];

/// A prepared dataset (5 test questions) with BM25 retrieval: `(data dir, retrieval dir)`.
fn dataset(root: &Path) -> (PathBuf, PathBuf) {
    let lines: Vec<String> = FRUITS
        .iter()
        .enumerate()
        .map(|(i, (fruit, colour))| {
            serde_json::json!({"id": format!("q{i}"),
                "question": format!("What colour is the {fruit}?"),
                "answer": colour,
                "context": format!("The {fruit} is {colour}.")})
            .to_string()
        })
        .collect();
    let input = root.join("fruit.jsonl");
    std::fs::write(&input, lines.join("\n")).expect("write");
    let data = root.join("data");
    let opts = PrepareOptions {
        format: Format::parse("jsonl").expect("format"),
        input,
        out: data.clone(),
        name: Some("fruit".into()),
        map: ColumnMap::default(),
        split: SplitConfig {
            unit: SplitUnit::Question,
            test_size: 5,
            val_size: Some(1),
            split_seed: 0,
            seeds: vec![0],
        },
        chunking: ChunkConfig::default(),
        tokenizer: None,
    };
    finefail_data::prepare(&opts, &mut |_| {}).expect("prepare");
    let retrieval = root.join("retrieval");
    let r = RetrieveOptions {
        retriever: Retriever::Bm25,
        top_k: 2,
        ..Default::default()
    };
    run_retrieve(&data, &retrieval, &r, &mut |_| {}).expect("retrieve");
    (data, retrieval)
}

fn api(url: &str) -> ChatApiConfig {
    let mut c = ChatApiConfig::new(url, "gpt-test");
    c.timeout = Duration::from_millis(1500);
    c.max_retries = 1;
    c.backoff = Duration::from_millis(1);
    c
}

fn options(arm: &str, context: AnswerContext) -> ApiAnswerOptions {
    ApiAnswerOptions {
        arm: arm.into(),
        context,
        top_k: 2,
        params: ChatParams {
            max_tokens: 16,
            temperature: 0.0,
            top_p: Some(1.0),
            stop: vec![],
        },
        concurrency: 2,
        part_size: 2,
    }
}

/// The question of a chat request (the last line of its user turn).
fn question_of(request: &str) -> String {
    let body = body_of(request);
    let user = body["messages"][1]["content"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    user.rsplit("Question: ").next().unwrap_or(&user).to_owned()
}

/// The fruit's colour, as a well-behaved endpoint would answer.
fn good_reply(request: &str) -> (u16, String, u64) {
    if is_preflight(request) {
        return (200, chat("ok"), 0);
    }
    let q = question_of(request);
    let answer = FRUITS
        .iter()
        .find(|(f, _)| q.contains(&format!("the {f}?")))
        .map_or("I don't know.", |(_, c)| c);
    (200, chat_with_usage(&format!(" {answer} "), 40, 3), 0)
}

#[test]
fn answers_every_test_question_with_the_rag_prompt_and_caches_them() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (data, retrieval) = dataset(tmp.path());
    let cache = ChatCache::open(tmp.path().join("cache")).expect("cache");
    let server = serve(|_, r| good_reply(r));
    let out = tmp.path().join("answers");
    let opts = options("fruit/gpt/n0", AnswerContext::Retrieved);
    let mut seen = Vec::new();
    let n = answer_test_set_api(
        &api(&server.url),
        Some(&cache),
        &data,
        Some(&retrieval),
        &opts,
        &out,
        &mut |d, t| seen.push((d, t)),
    )
    .expect("answers");
    assert_eq!(n, 5);
    assert_eq!(seen.last(), Some(&(5, 5)));
    let rows = read_answer_records(&out.join("answers.parquet")).expect("read");
    assert_eq!(rows.len(), 5);
    for r in &rows {
        assert_eq!(
            (r.arm.as_str(), r.context.as_str()),
            ("fruit/gpt/n0", "retrieved")
        );
        assert_eq!((r.prompt_tokens, r.answer_tokens), (40, 3));
        assert!(
            FRUITS.iter().any(|(_, c)| *c == r.answer),
            "{} answered `{}` (trimmed)",
            r.question_id,
            r.answer
        );
    }
    assert_eq!(
        std::fs::read_dir(out.join("parts"))
            .map(|d| d.count())
            .unwrap_or(0),
        3,
        "5 questions in parts of 2"
    );
    // The local arms' RAG prompt: system line, numbered retrieved chunks, then the question.
    let requests = server.requests();
    assert_eq!(
        requests.len(),
        1 + 5,
        "preflight + one request per question"
    );
    assert!(is_preflight(&requests[0]));
    for r in &requests[1..] {
        let b = body_of(r);
        assert_eq!(b["model"], "gpt-test");
        assert_eq!(b["max_tokens"], 16);
        assert_eq!(b["messages"][0]["role"], "system");
        assert_eq!(b["messages"][0]["content"], SYSTEM_WITH_CONTEXT);
        let user = b["messages"][1]["content"].as_str().unwrap_or("");
        // BM25 finds the question's own passage first (the word `colour` is in no passage).
        let q = question_of(r);
        let fruit = q
            .trim_start_matches("What colour is the ")
            .trim_end_matches('?');
        assert!(
            user.starts_with(&format!("Context:\n[1] The {fruit} is ")),
            "{user}"
        );
        assert!(user.ends_with(&format!("\n\nQuestion: {q}")), "{user}");
    }
    // A second run (fresh output folder, same cache) asks nothing, not even a preflight.
    let again = tmp.path().join("again");
    answer_test_set_api(
        &api(&server.url),
        Some(&cache),
        &data,
        Some(&retrieval),
        &opts,
        &again,
        &mut |_, _| {},
    )
    .expect("cached");
    assert_eq!(server.count(), 6);
    assert_eq!(
        read_answer_records(&again.join("answers.parquet")).expect("read"),
        rows
    );
    // Closed book: the local arms' closed-book prompt, no context.
    let none = tmp.path().join("none");
    answer_test_set_api(
        &api(&server.url),
        None,
        &data,
        None,
        &options("fruit/gpt/n0@none", AnswerContext::None),
        &none,
        &mut |_, _| {},
    )
    .expect("closed book");
    let last = body_of(&server.requests()[server.count() - 1]);
    assert_eq!(last["messages"][0]["content"], SYSTEM_CLOSED_BOOK);
    assert!(last["messages"][1]["content"]
        .as_str()
        .is_some_and(|q| q.starts_with("What colour")));
}

#[test]
fn a_question_failing_after_retries_fails_the_step_and_a_rerun_resumes() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (data, retrieval) = dataset(tmp.path());
    let cache = ChatCache::open(tmp.path().join("cache")).expect("cache");
    let tests: Vec<String> = finefail_data::Splits::load(&data.join("splits.json"))
        .expect("splits")
        .test;
    // The third test question (first of the second part) always gets a malformed reply.
    let qa = finefail_data::tables::read_qa(&data.join("qa.parquet")).expect("qa");
    let doomed = qa
        .iter()
        .find(|q| q.id == tests[2])
        .map(|q| q.question.clone())
        .expect("question");
    let doomed_in_server = doomed.clone();
    let flaky = serve(move |_, r| {
        if !is_preflight(r) && question_of(r) == doomed_in_server {
            (200, r#"{"choices": []}"#.into(), 0)
        } else {
            good_reply(r)
        }
    });
    let out = tmp.path().join("answers");
    let mut opts = options("fruit/gpt/n0", AnswerContext::Retrieved);
    opts.concurrency = 1;
    let err = answer_test_set_api(
        &api(&flaky.url),
        Some(&cache),
        &data,
        Some(&retrieval),
        &opts,
        &out,
        &mut |_, _| {},
    )
    .expect_err("the doomed question fails");
    assert!(matches!(err, RagError::Other(_)), "not bad input: {err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(&tests[2])
            && msg.contains("failed after 2 attempts")
            && msg.contains("malformed reply")
            && msg.contains("rerun to resume"),
        "{msg}"
    );
    assert!(!out.join("answers.parquet").exists());
    assert!(out.join("parts/part-00000.parquet").is_file());
    assert!(!out.join("parts/part-00001.parquet").exists());
    // preflight, q0, q1, then the doomed one twice (max_retries = 1); nothing after it.
    assert_eq!(flaky.count(), 5);

    let fixed = serve(|_, r| good_reply(r));
    answer_test_set_api(
        &api(&fixed.url),
        Some(&cache),
        &data,
        Some(&retrieval),
        &opts,
        &out,
        &mut |_, _| {},
    )
    .expect("resumed");
    let asked: Vec<String> = fixed
        .requests()
        .iter()
        .skip(1)
        .map(|r| question_of(r))
        .collect();
    assert_eq!(
        asked.len(),
        3,
        "only the three unanswered questions: {asked:?}"
    );
    assert_eq!(asked[0], doomed);
    let rows = read_answer_records(&out.join("answers.parquet")).expect("read");
    assert_eq!(
        rows.iter()
            .map(|r| r.question_id.clone())
            .collect::<Vec<_>>(),
        tests
    );
}

#[test]
fn timeouts_fail_the_step_with_a_clear_line() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (data, retrieval) = dataset(tmp.path());
    let slow = serve(|_, r| {
        if is_preflight(r) {
            (200, chat("ok"), 0)
        } else {
            (200, chat("late"), 600)
        }
    });
    let mut cfg = api(&slow.url);
    cfg.timeout = Duration::from_millis(150);
    let err = answer_test_set_api(
        &cfg,
        None,
        &data,
        Some(&retrieval),
        &options("fruit/gpt/n0", AnswerContext::Retrieved),
        &tmp.path().join("out"),
        &mut |_, _| {},
    )
    .expect_err("timeouts");
    let msg = err.to_string();
    assert!(msg.contains("timed out") && !msg.contains('\n'), "{msg}");
}

#[test]
fn unreachable_endpoint_and_missing_key_are_bad_input() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (data, retrieval) = dataset(tmp.path());
    let opts = options("fruit/gpt/n0", AnswerContext::Retrieved);
    let url = dead_url();
    let err = answer_test_set_api(
        &api(&url),
        None,
        &data,
        Some(&retrieval),
        &opts,
        &tmp.path().join("out"),
        &mut |_, _| {},
    )
    .expect_err("unreachable");
    assert!(err.is_bad_input(), "{err}");
    assert!(
        err.to_string().contains(&url) && err.to_string().contains("gpt-test"),
        "{err}"
    );

    let mut cfg = api(&url);
    cfg.key_env = Some("FINEFAIL_RAG_TEST_KEY_NEVER_SET".into());
    let err = answer_test_set_api(
        &cfg,
        None,
        &data,
        Some(&retrieval),
        &opts,
        &tmp.path().join("out2"),
        &mut |_, _| {},
    )
    .expect_err("missing key");
    assert!(
        err.is_bad_input() && err.to_string().contains("FINEFAIL_RAG_TEST_KEY_NEVER_SET"),
        "{err}"
    );
}
