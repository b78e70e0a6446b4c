//! The chat export (`finefail data export`) is what a fine-tune trains on: the same questions in
//! the same order, and messages that render to the very tokens of each training example.

mod common;

use common::Fixture;
use finefail_model::chat::ChatTemplate;
use finefail_model::tokenizer::Tokenizer;
use finefail_train::examples::{
    dataset_label_set, qa_chat_messages, train_subset_records, RunExamples,
};

#[test]
fn exported_messages_render_to_the_training_examples() {
    let fx = Fixture::new();
    let tok = Tokenizer::from_dir(&fx.model).unwrap();
    let tpl = ChatTemplate::from_dir(&fx.model).unwrap();
    for seed in [0, 1] {
        let mut req = fx.request("unused");
        req.seed = seed;
        req.settings.train.max_seq_len = 1000;
        let run = RunExamples::load(&req).unwrap();
        let recs = train_subset_records(&fx.data, req.size, seed).unwrap();
        let ids: Vec<&str> = recs.iter().map(|r| r.id.as_str()).collect();
        let trained: Vec<&str> = run.train.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, trained, "seed {seed}");
        for (rec, ex) in recs.iter().zip(&run.train) {
            let labels = dataset_label_set(&fx.data).unwrap();
            let messages = qa_chat_messages(rec, labels).unwrap();
            let (answer, prompt) = messages.split_last().unwrap();
            assert_eq!(answer.role, "assistant");
            let (p, a) = tpl
                .render_prompt_and_answer(prompt, &answer.content)
                .unwrap();
            let mut tokens = tok.encode(&p, false).unwrap();
            assert_eq!(tokens.len(), ex.prompt_len, "{}", rec.id);
            tokens.extend(tok.encode(&a, false).unwrap());
            assert_eq!(tokens, ex.tokens, "{}", rec.id);
        }
    }
}
