//! End-to-end tests of chat JSONL in and out (issue 28): `data prepare --format chat-jsonl` and
//! `data export --format chat-jsonl`, run as a user runs them.

use finefail_data::{tables, QaRecord, Splits};
use finefail_rag::rag_prompt::SYSTEM_CLOSED_BOOK;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn finefail(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_finefail"))
        .args(args)
        .output()
        .expect("run finefail")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A generic JSONL dataset of `n` questions over `n / 4` passages: every 10th unanswerable, every
/// 7th a yes/no label question.
fn write_source(dir: &Path, n: usize) -> PathBuf {
    let path = dir.join("source.jsonl");
    let lines: Vec<String> = (0..n)
        .map(|i| {
            let mut row = json!({
                "question": format!("What is fact number {i} about topic {}?", i / 4),
                "answer": format!("answer {i}"),
                "context": format!("Topic {} holds facts {}. ", i / 4, i / 4 * 4).repeat(5),
            });
            if i % 10 == 9 {
                row["answer"] = json!([]);
            } else if i % 7 == 3 {
                let word = if i % 2 == 0 { "yes" } else { "no" };
                row["answer"] = json!(word);
                row["label"] = json!(word);
            }
            row.to_string()
        })
        .collect();
    std::fs::write(&path, lines.join("\n")).unwrap();
    path
}

fn prepare(format: &str, input: &Path, out: &Path, extra: &[&str]) {
    let mut args = vec![
        "data",
        "prepare",
        "--format",
        format,
        "--input",
        s(input),
        "--out",
        s(out),
    ];
    args.extend_from_slice(extra);
    let o = finefail(&args);
    assert!(o.status.success(), "{}", stderr(&o));
}

fn export(data: &Path, size: usize, seed: u64, out: &Path, extra: &[&str]) -> Vec<Value> {
    let (size, seed) = (size.to_string(), seed.to_string());
    let mut args = vec![
        "data",
        "export",
        "--format",
        "chat-jsonl",
        "--data",
        s(data),
        "--size",
        &size,
        "--seed",
        &seed,
        "--out",
        s(out),
    ];
    args.extend_from_slice(extra);
    let o = finefail(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::read_to_string(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn records(dir: &Path) -> HashMap<String, QaRecord> {
    tables::read_qa(&dir.join("qa.parquet"))
        .unwrap()
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect()
}

fn corpus(dir: &Path) -> HashMap<String, String> {
    tables::read_corpus(&dir.join("corpus.parquet"))
        .unwrap()
        .into_iter()
        .map(|d| (d.doc_id, d.text))
        .collect()
}

fn gold_text(rec: &QaRecord, corpus: &HashMap<String, String>) -> Vec<String> {
    rec.gold_doc_ids.iter().map(|d| corpus[d].clone()).collect()
}

/// The export is the training subset of (N, seed) in its order, each line the `qa` prompt and the
/// training target; importing it back gives the same questions, answers, labels and passages.
#[test]
fn export_is_the_training_subset_and_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let source = write_source(tmp.path(), 80);
    let data = tmp.path().join("prepared");
    prepare(
        "jsonl",
        &source,
        &data,
        &["--name", "toy", "--test-size", "10"],
    );
    let splits = Splits::load(&data.join("splits.json")).unwrap();
    let originals = records(&data);
    let original_corpus = corpus(&data);

    let out = tmp.path().join("export/train.jsonl");
    let lines = export(&data, 30, 1, &out, &[]);
    let ids: Vec<String> = lines
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, splits.train_subset(1, 30).unwrap());
    assert_ne!(ids, splits.train_subset(0, 30).unwrap());
    let (mut labels, mut unanswerable) = (0, 0);
    for line in &lines {
        let rec = &originals[line["id"].as_str().unwrap()];
        let messages = line["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 3, "{line}");
        let roles: Vec<&str> = messages
            .iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect();
        assert_eq!(roles, ["system", "user", "assistant"]);
        let mut system = SYSTEM_CLOSED_BOOK.to_string();
        if let Some(label) = rec.label {
            // The source's labels are yes/no only, so the prompt never offers maybe (issue 26).
            system.push_str(" Start the answer with one word: yes or no.");
            labels += 1;
            assert_eq!(line["label"], label.as_str());
        }
        assert_eq!(messages[0]["content"], system.as_str());
        assert_eq!(messages[1]["content"], rec.question.as_str());
        let target = if rec.answerable {
            rec.answers[0].as_str()
        } else {
            unanswerable += 1;
            finefail_data::ABSTENTION
        };
        assert_eq!(messages[2]["content"], target);
        assert_eq!(
            line["context"].as_str().unwrap(),
            gold_text(rec, &original_corpus).join("\n\n")
        );
    }
    assert!(
        labels > 0 && unanswerable > 0,
        "the subset should mix kinds"
    );

    // Nested like the fine-tunes: N = 10 is the first 10 lines of N = 30.
    let small = export(&data, 10, 1, &tmp.path().join("small.jsonl"), &[]);
    assert_eq!(small[..], lines[..10]);

    // Round trip: the export is a chat-jsonl dataset with the same questions.
    let back = tmp.path().join("back");
    prepare("chat-jsonl", &out, &back, &["--test-size", "3"]);
    let imported = records(&back);
    let imported_corpus = corpus(&back);
    assert_eq!(imported.len(), 30);
    for id in &ids {
        let (a, b) = (&originals[id], &imported[id]);
        assert_eq!(a.question, b.question);
        assert_eq!(a.answerable, b.answerable, "{id}");
        assert_eq!(a.answers, b.answers, "{id}");
        assert_eq!(a.label, b.label, "{id}");
        assert_eq!(
            a.answer_type == finefail_data::AnswerType::Label,
            b.label.is_some()
        );
        assert_eq!(
            gold_text(a, &original_corpus),
            gold_text(b, &imported_corpus),
            "{id}"
        );
    }

    // --messages-only: nothing but the conversation on a line; ids then come from line numbers.
    let bare = tmp.path().join("bare.jsonl");
    let lines = export(&data, 5, 1, &bare, &["--messages-only"]);
    for line in &lines {
        let keys: Vec<&String> = line.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["messages"]);
    }
    let back = tmp.path().join("bare-back");
    prepare(
        "chat-jsonl",
        &bare,
        &back,
        &["--name", "b", "--test-size", "1"],
    );
    let imported = records(&back);
    assert!(imported.contains_key("b:bare:1") && imported.contains_key("b:bare:5"));
}

/// `--map context=system` takes the passage from the system message; by default it is the line's
/// `context` field, and the system message is only the instruction.
#[test]
fn the_passage_comes_from_the_context_field_or_the_system_message() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("chat.jsonl");
    let lines: Vec<String> = (0..6)
        .map(|i| {
            json!({
                "key": format!("q{i}"),
                "context": format!("Field passage {i}."),
                "messages": [
                    {"role": "system", "content": format!("System passage {i}.")},
                    {"role": "user", "content": [{"type": "text", "text": format!("Question {i}")}, {"type": "text", "text": "?"}]},
                    {"role": "assistant", "content": format!("Answer {i}."), "weight": 1},
                ]
            })
            .to_string()
        })
        .collect();
    std::fs::write(&input, lines.join("\n") + "\n\n").unwrap();

    let by_field = tmp.path().join("field");
    prepare(
        "chat-jsonl",
        &input,
        &by_field,
        &["--map", "id=key", "--test-size", "1"],
    );
    let recs = records(&by_field);
    let docs = corpus(&by_field);
    let q2 = &recs["q2"];
    assert_eq!(q2.question, "Question 2?");
    assert_eq!(q2.answers, ["Answer 2."]);
    assert_eq!(gold_text(q2, &docs), ["Field passage 2."]);

    let by_system = tmp.path().join("system");
    prepare(
        "chat-jsonl",
        &input,
        &by_system,
        &["--map", "context=system", "--test-size", "1"],
    );
    let recs = records(&by_system);
    let docs = corpus(&by_system);
    let q2 = &recs["chat-jsonl:chat:3"];
    assert_eq!(gold_text(q2, &docs), ["System passage 2."]);
}

/// Runs a prepare that must fail with exit code 2, one line naming `needle`, and no output dir.
fn assert_bad_input(input: &Path, extra: &[&str], needle: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let mut args = vec![
        "data",
        "prepare",
        "--format",
        "chat-jsonl",
        "--input",
        s(input),
        "--out",
        s(&out),
        "--test-size",
        "1",
    ];
    args.extend_from_slice(extra);
    let o = finefail(&args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "expected exit 2: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains(needle),
        "error should mention `{needle}`: {err}"
    );
    assert!(!out.exists(), "no partial output may be left");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}

fn chat(user: &str, assistant: Option<&str>) -> String {
    let mut messages = vec![json!({"role": "user", "content": user})];
    if let Some(a) = assistant {
        messages.push(json!({"role": "assistant", "content": a}));
    }
    json!({ "messages": messages }).to_string()
}

#[test]
fn malformed_chat_lines_name_the_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let good = chat("Who?", Some("Me."));
    let write = |name: &str, lines: &[String]| {
        let p = tmp.path().join(name);
        std::fs::write(&p, lines.join("\n")).unwrap();
        p
    };

    let p = write("bad.jsonl", &[good.clone(), "{\"messages\": [".into()]);
    assert_bad_input(&p, &[], "bad.jsonl (line 2): malformed JSON");

    let p = write(
        "noanswer.jsonl",
        &[good.clone(), good.clone(), chat("Why?", None)],
    );
    assert_bad_input(&p, &[], "noanswer.jsonl (line 3): missing assistant turn");

    let history = json!({"messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "Who?"},
        {"role": "assistant", "content": "Me."},
    ]})
    .to_string();
    let p = write("multi.jsonl", &[good.clone(), history]);
    assert_bad_input(&p, &[], "multi.jsonl (line 2): multi-turn history");

    let p = write(
        "nomsg.jsonl",
        &["{\"question\": \"a?\", \"answer\": \"b\"}".into()],
    );
    assert_bad_input(
        &p,
        &[],
        "nomsg.jsonl (line 1): missing required field `messages`",
    );

    let tool = json!({"messages": [
        {"role": "user", "content": "Who?"},
        {"role": "tool", "content": "x"},
        {"role": "assistant", "content": "Me."},
    ]})
    .to_string();
    let p = write("tool.jsonl", &[tool]);
    assert_bad_input(&p, &[], "tool.jsonl (line 1): messages[1] has role `tool`");

    let p = write("empty.jsonl", &[good.clone(), chat("Why?", Some("  "))]);
    assert_bad_input(&p, &[], "empty.jsonl (line 2): empty assistant turn");

    let p = write("map.jsonl", &[good.clone(), good]);
    assert_bad_input(
        &p,
        &["--map", "question=q"],
        "--map question=… does not apply",
    );
}

#[test]
fn export_refuses_what_it_cannot_write() {
    let tmp = tempfile::tempdir().unwrap();
    let source = write_source(tmp.path(), 40);
    let data = tmp.path().join("prepared");
    prepare("jsonl", &source, &data, &["--test-size", "10"]);
    let out = tmp.path().join("out.jsonl");
    for (args, needle) in [
        (vec!["--size", "500"], "the pool holds only"),
        (
            vec!["--size", "5", "--format", "jsonl"],
            "only export format is chat-jsonl",
        ),
    ] {
        let mut all = vec!["data", "export", "--data", s(&data), "--out", s(&out)];
        all.extend(args);
        let o = finefail(&all);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{}", stderr(&o));
        assert!(!out.exists());
    }
}
