//! `rag` examples: retrieved chunks in the prompt, trimmed (lowest rank first) to fit `max_seq_len`.

mod common;

use common::Fixture;
use finefail_data::tables::{write_retrieval, RetrievalRow};
use finefail_data::Chunk;
use finefail_model::chat::ChatTemplate;
use finefail_model::tokenizer::Tokenizer;
use finefail_train::examples::build_examples;
use std::collections::HashMap;

fn long_text(n: usize) -> String {
    let words = [
        "the", "sky", "is", "blue", "and", "the", "grass", "is", "green", ".",
    ];
    (0..n)
        .map(|i| words[i % words.len()])
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn rag_prompts_hold_the_chunks_and_are_trimmed_to_fit() {
    let _serial = common::serial();
    let fx = Fixture::new();
    let recs = common::records();
    // chunks: rank 1 short, rank 2 long
    let mut chunks = Vec::new();
    let mut rows = Vec::new();
    for r in &recs {
        for (rank, text) in [(1u32, "the sky is blue".to_string()), (2, long_text(200))] {
            let id = format!("{}#{rank}", r.id);
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

    let tok = Tokenizer::from_dir(&fx.model).unwrap();
    let tpl = ChatTemplate::from_dir(&fx.model).unwrap();
    let by_id: HashMap<_, _> = recs.iter().map(|r| (r.id.clone(), r.clone())).collect();
    let ctx: HashMap<String, Vec<String>> = chunks
        .chunks(2)
        .map(|c| {
            (
                c[0].doc_id.clone(),
                vec![c[0].text.clone(), c[1].text.clone()],
            )
        })
        .collect();
    let ids = vec![recs[0].id.clone()];
    let roomy = build_examples(&ids, &by_id, Some(&ctx), &tpl, &tok, 1000).unwrap();
    let tight = build_examples(&ids, &by_id, Some(&ctx), &tpl, &tok, 100).unwrap();
    assert!(roomy[0].tokens.len() > 200);
    assert!(tight[0].tokens.len() <= 100);
    // the answer survives whole, and so do the first chunk and the question
    assert_eq!(
        roomy[0].tokens[roomy[0].prompt_len..],
        tight[0].tokens[tight[0].prompt_len..]
    );
    let prompt = tok
        .decode(&tight[0].tokens[..tight[0].prompt_len], false)
        .unwrap();
    assert!(prompt.contains("[ 1 ] the sky is blue"), "{prompt}");
    assert!(
        prompt.contains("what is the colour of the apple ?"),
        "{prompt}"
    );

    let mut req = fx.request("rag");
    req.settings.train.format = finefail_train::PromptFormat::Rag;
    req.settings.train.max_steps = Some(2);
    req.settings.train.max_seq_len = 100;
    req.retrieval_dir = Some(ret);
    let summary = finefail_train::finetune(&req, &mut |_| {}).unwrap();
    assert_eq!(summary.steps, 2);
    assert!(
        summary.tokens > 2 * 4 * 60,
        "prompts should carry the chunks ({})",
        summary.tokens
    );
}

/// A `rag` training prompt is the evaluation prompt: for the same question, chunks and token budget,
/// the example's prompt tokens are the tokens `ChatModel::prompt_tokens` gives the messages that
/// answering fits (the evaluation path), whether the chunks fit whole or have to be cut.
#[test]
fn training_prompts_equal_the_evaluation_prompts() {
    let _serial = common::serial();
    let fx = Fixture::new();
    let recs = common::records();
    let model = finefail_model::chat_model::ChatModel::load(
        &fx.model,
        None,
        &finefail_model::device::parse_device("cpu").unwrap(),
    )
    .unwrap();
    let by_id: HashMap<_, _> = recs.iter().map(|r| (r.id.clone(), r.clone())).collect();
    let rec = &recs[0];
    let chunks = vec!["the sky is blue".to_string(), long_text(200)];
    let ctx: HashMap<String, Vec<String>> = [(rec.id.clone(), chunks.clone())].into();
    let ids = vec![rec.id.clone()];
    let count = |m: &[finefail_model::chat::ChatMessage]| model.prompt_tokens(m).unwrap().len();
    for max_seq_len in [1000, 120, 80] {
        let ex = build_examples(
            &ids,
            &by_id,
            Some(&ctx),
            &model.template,
            &model.tokenizer,
            max_seq_len,
        )
        .unwrap()
        .remove(0);
        let budget = max_seq_len - ex.answer_len();
        let messages = finefail_rag::rag_prompt::fitted_messages(
            &rec.question,
            finefail_rag::rag_prompt::AnswerForm::of(
                rec.answer_type,
                finefail_data::LabelSet::of(by_id.values()),
            ),
            &chunks,
            budget,
            &count,
        );
        assert_eq!(
            ex.tokens[..ex.prompt_len],
            model.prompt_tokens(&messages).unwrap()[..],
            "max_seq_len {max_seq_len}"
        );
    }
}
