//! Each importer on a fixture written by hand from the source's published format.

use finefail_data::dataset::build;
use finefail_data::importers::{import, ColumnMap, Format};
use finefail_data::{AnswerType, Label, QaRecord};
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn load(format: Format, name: &str, map: &str) -> finefail_data::dataset::Dataset {
    let imported = import(format, &fixture(name), &ColumnMap::parse(map).unwrap()).unwrap();
    build(format.name(), imported).unwrap()
}

fn by_id<'a>(qs: &'a [QaRecord], id: &str) -> &'a QaRecord {
    qs.iter().find(|q| q.id == id).unwrap_or_else(|| {
        panic!(
            "no question {id}; have {:?}",
            qs.iter().map(|q| &q.id).collect::<Vec<_>>()
        )
    })
}

#[test]
fn narrativeqa_keeps_both_references_and_merges_duplicates() {
    let d = load(Format::NarrativeQa, "narrativeqa.jsonl", "");
    assert_eq!(d.rows, 4);
    assert_eq!(d.questions.len(), 3);
    assert_eq!(d.dropped.duplicates, 1);
    assert_eq!(d.documents.len(), 2, "two stories, deduplicated by content");
    let q = by_id(&d.questions, "narrativeqa:narrativeqa:1");
    assert_eq!(q.answers.len(), 2);
    assert_eq!(q.answer_type, AnswerType::Free);
    // The duplicate (same normalised question, same story) adds its new reference.
    let phoebe = by_id(&d.questions, "narrativeqa:narrativeqa:3");
    assert_eq!(
        phoebe.answers,
        vec!["Her sister Susan.", "Susan.", "Susan, her sister."]
    );
    assert_eq!(
        by_id(&d.questions, "narrativeqa:narrativeqa:2").gold_doc_ids,
        q.gold_doc_ids
    );
}

#[test]
fn pubmedqa_reads_both_subsets_with_path_ids() {
    let d = load(Format::PubMedQa, "pubmedqa", "");
    assert_eq!(d.questions.len(), 3);
    let q = by_id(&d.questions, "pubmedqa:pqal/test:1");
    assert_eq!(q.label, Some(Label::Yes));
    assert_eq!(q.answers, vec!["yes"]);
    assert_eq!(q.answer_type, AnswerType::Label);
    assert_eq!(q.source_split, "pqal/test");
    assert_eq!(
        by_id(&d.questions, "pubmedqa:pqaa/test:1").label,
        Some(Label::Maybe)
    );
}

#[test]
fn disflqa_marks_unknown_as_unanswerable() {
    let d = load(Format::DisflQa, "disflqa.jsonl", "");
    let known = by_id(&d.questions, "disflqa:disflqa:1");
    assert!(known.answerable);
    assert_eq!(known.answers, vec!["dioxygen"]);
    assert_eq!(known.answer_type, AnswerType::Span);
    let unknown = by_id(&d.questions, "disflqa:disflqa:2");
    assert!(!unknown.answerable);
    assert!(unknown.answers.is_empty());
    assert_eq!(d.documents.len(), 1);
}

#[test]
fn boolq_maps_labels_and_drops_unlabeled_rows() {
    let d = load(Format::BoolQ, "boolq.jsonl", "");
    assert_eq!(d.rows, 3);
    assert_eq!(d.questions.len(), 2);
    assert_eq!(d.dropped.unlabeled, 1);
    // idx repeats (0, 0), so ids come from the line.
    assert_eq!(by_id(&d.questions, "boolq:boolq:1").label, Some(Label::Yes));
    assert_eq!(by_id(&d.questions, "boolq:boolq:2").label, Some(Label::No));
    assert_eq!(d.documents[0].title, "Sky");
    assert_eq!(
        d.documents[0].text,
        "The sky appears blue because of Rayleigh scattering."
    );
}

#[test]
fn squad_v2_spans_and_impossible_questions() {
    let d = load(Format::Squad, "squad.json", "");
    let q = by_id(&d.questions, "56ddde6b9a695914005b9628");
    assert_eq!(q.answers, vec!["France", "a region in France"]);
    assert_eq!(q.answer_type, AnswerType::Span);
    let imp = by_id(&d.questions, "5ad39d53604f3c001a3fe8d1");
    assert!(
        !imp.answerable && imp.answers.is_empty(),
        "plausible answers are not references"
    );
    assert_eq!(d.documents[0].title, "Normans");
}

#[test]
fn bioasq_ideal_then_exact_answers_snippet_documents() {
    let d = load(Format::BioAsq, "bioasq.json", "");
    let yn = by_id(&d.questions, "55031181e9bde69634000014");
    assert_eq!(yn.answer_type, AnswerType::Label);
    assert_eq!(yn.label, Some(Label::Yes));
    assert_eq!(yn.answers[0], "yes");
    // Only the document with snippet text is in the corpus and gold.
    assert_eq!(yn.gold_doc_ids, vec!["12239580"]);
    let factoid = by_id(&d.questions, "55046d5ff8aee20f27000007");
    assert_eq!(
        factoid.answers,
        vec!["RET is the major gene.", "RET", "RET proto-oncogene"]
    );
    let doc = d.documents.iter().find(|x| x.doc_id == "12239580").unwrap();
    assert!(
        doc.text.contains("Coding sequence") && doc.text.contains("major gene"),
        "snippets of both questions: {}",
        doc.text
    );
    assert_eq!(d.documents.len(), 2);
}

#[test]
fn nq_short_answers_else_long_answer() {
    let d = load(Format::Nq, "nq.jsonl", "");
    let q = by_id(&d.questions, "5655493461695504401");
    assert_eq!(q.answers, vec!["a newsletter"]);
    assert_eq!(q.answer_type, AnswerType::Span);
    let long = by_id(&d.questions, "1");
    assert_eq!(long.answer_type, AnswerType::Free);
    assert_eq!(long.answers, vec!["A common example of permission marketing is a newsletter sent to an advertising firm 's customers ."]);
    assert!(!by_id(&d.questions, "2").answerable);
    let doc = d
        .documents
        .iter()
        .find(|x| q.gold_doc_ids.contains(&x.doc_id))
        .unwrap();
    assert_eq!(doc.title, "Email marketing");
    assert!(!doc.text.contains("<P>"));
}

#[test]
fn qasper_one_reference_per_annotator() {
    let d = load(Format::Qasper, "qasper.json", "");
    let q = by_id(&d.questions, "753990d0b621d390ed58f20c4d9e4f065f0dc672");
    assert_eq!(
        q.answers,
        vec![
            "a vocabulary of positive and negative predicates",
            "seed lexicon, positive and negative predicates"
        ]
    );
    assert_eq!(q.gold_doc_ids, vec!["1909.00694"]);
    assert_eq!(
        by_id(&d.questions, "9d578ddccc27dd849244d632dd0f6bf27348ad81").answers,
        vec!["Yes"]
    );
    assert!(!by_id(&d.questions, "02e4bf719b1a504e385c35c6186742e720bcb281").answerable);
    let doc = &d.documents[0];
    assert!(
        doc.text.starts_with("Minimally Supervised")
            && doc.text.contains("Experiments")
            && doc.text.contains("100 million")
    );
}

#[test]
fn csv_with_column_map() {
    let d = load(
        Format::Csv,
        "generic.csv",
        "id=qid,question=q,answer=a,context=ctx,label=lab",
    );
    assert_eq!(by_id(&d.questions, "g1").answers, vec!["blue"]);
    assert_eq!(by_id(&d.questions, "g2").answers, vec!["2", "3", "5"]);
    let g3 = by_id(&d.questions, "g3");
    assert_eq!(
        (g3.answer_type, g3.label),
        (AnswerType::Label, Some(Label::Yes))
    );
    assert!(!by_id(&d.questions, "g4").answerable);
}

#[test]
fn jsonl_with_default_columns_and_doc_id_references() {
    let d = load(Format::Jsonl, "generic.jsonl", "");
    assert_eq!(d.questions.len(), 2);
    let first = by_id(&d.questions, "jsonl:generic:1");
    assert_eq!(first.answers, vec!["4", "four"]);
    assert_eq!(first.gold_doc_ids, vec!["arith"]);
    // The second row names the document by id only; it resolves to the first row's passage.
    assert_eq!(
        by_id(&d.questions, "jsonl:generic:2").gold_doc_ids,
        vec!["arith"]
    );
}

#[test]
fn parquet_with_list_answers() {
    use polars::prelude::*;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.parquet");
    let answers: Vec<Series> = vec![
        Series::new("".into(), &["x", "y"]),
        Series::new("".into(), &["z"]),
    ];
    let mut df = DataFrame::new(
        2,
        vec![
            Column::new("question".into(), &["q one?", "q two?"]),
            Series::new("answer".into(), answers.as_slice()).into_column(),
            Column::new("context".into(), &["passage one", "passage two"]),
        ],
    )
    .unwrap();
    ParquetWriter::new(std::fs::File::create(&path).unwrap())
        .finish(&mut df)
        .unwrap();
    let d = build(
        "pq",
        import(Format::Parquet, &path, &ColumnMap::default()).unwrap(),
    )
    .unwrap();
    assert_eq!(by_id(&d.questions, "pq:t:1").answers, vec!["x", "y"]);
    assert_eq!(by_id(&d.questions, "pq:t:2").answers, vec!["z"]);
}
