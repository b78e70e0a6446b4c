//! Published chat templates (tests/fixtures/chat_published_templates.json) rendered by our minijinja
//! setup must give what Hugging Face transformers gives. Expected strings are written by hand from
//! the templates (and were cross-checked with Jinja2 configured as transformers configures it).

use std::path::PathBuf;

use finefail_model::chat::{ChatMessage, ChatTemplate};

fn template(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/chat_published_templates.json");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    v[name].as_str().unwrap().to_string()
}

fn msg(role: &str, content: &str) -> ChatMessage {
    ChatMessage::new(role, content)
}

/// system, user (with spaces to strip), assistant, user.
fn conversation() -> Vec<ChatMessage> {
    vec![
        msg("system", "You are terse."),
        msg("user", " Hi there "),
        msg("assistant", "Hello!"),
        msg("user", "Capital of France?"),
    ]
}

#[test]
fn llama2_chat() {
    let t = ChatTemplate::from_source(&template("llama2_chat"), Some("<s>"), Some("</s>")).unwrap();
    assert_eq!(
        t.render(&conversation(), true).unwrap(),
        "<s>[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\n Hi there [/INST] Hello! </s><s>[INST] Capital of France? [/INST]"
    );
    assert_eq!(
        t.render(&conversation()[1..], false).unwrap(),
        "<s>[INST] Hi there [/INST] Hello! </s><s>[INST] Capital of France? [/INST]"
    );
    let (p, a) = t
        .render_prompt_and_answer(&[msg("user", "Q?")], "Paris.")
        .unwrap();
    assert_eq!(p, "<s>[INST] Q? [/INST]");
    assert_eq!(a, " Paris. </s>");
    assert_eq!(t.stop_strings(), vec!["</s>".to_string()]);
}

#[test]
fn mixtral_instruct() {
    let t = ChatTemplate::from_source(&template("mixtral_instruct"), Some("<s>"), Some("</s>"))
        .unwrap();
    assert_eq!(
        t.render(&conversation()[1..], true).unwrap(),
        "<s>[INST]  Hi there  [/INST]Hello!</s>[INST] Capital of France? [/INST]"
    );
    let (p, a) = t
        .render_prompt_and_answer(&[msg("user", "Q?")], "Paris.")
        .unwrap();
    assert_eq!(p, "<s>[INST] Q? [/INST]");
    assert_eq!(a, "Paris.</s>");
    // The template's own raise_exception surfaces as a bad-input error carrying its message.
    let err = t.render(&conversation(), true).unwrap_err();
    assert!(err.is_bad_input(), "{err}");
    assert!(
        err.to_string()
            .contains("Conversation roles must alternate"),
        "{err}"
    );
}

#[test]
fn qwen2_chatml() {
    let t = ChatTemplate::from_source(&template("qwen2_chatml"), None, Some("<|im_end|>")).unwrap();
    assert_eq!(
        t.render(&conversation(), true).unwrap(),
        "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\n Hi there <|im_end|>\n\
         <|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nCapital of France?<|im_end|>\n\
         <|im_start|>assistant\n"
    );
    assert_eq!(
        t.render(&[msg("user", "Hi")], false).unwrap(),
        "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
    );
    let (p, a) = t
        .render_prompt_and_answer(&[msg("user", "Q?")], "Paris.")
        .unwrap();
    assert_eq!(p, "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nQ?<|im_end|>\n<|im_start|>assistant\n");
    assert_eq!(a, "Paris.<|im_end|>\n");
    assert_eq!(t.stop_strings(), vec!["<|im_end|>".to_string()]);
}

#[test]
fn smollm2_chatml() {
    let t = ChatTemplate::from_source(
        &template("smollm2_chatml"),
        Some("<|im_start|>"),
        Some("<|im_end|>"),
    )
    .unwrap();
    assert_eq!(
        t.render(&[msg("user", "What is the capital of France?")], true).unwrap(),
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n\
         <|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
    );
    assert_eq!(
        t.render(&[msg("system", "Be brief."), msg("user", "Hi")], true).unwrap(),
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    );
}

#[test]
fn llama3_instruct() {
    let t = ChatTemplate::from_source(
        &template("llama3_instruct"),
        Some("<|begin_of_text|>"),
        Some("<|eot_id|>"),
    )
    .unwrap();
    assert_eq!(
        t.render(&conversation(), true).unwrap(),
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>\
         <|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>\
         <|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>\
         <|start_header_id|>user<|end_header_id|>\n\nCapital of France?<|eot_id|>\
         <|start_header_id|>assistant<|end_header_id|>\n\n"
    );
    let (p, a) = t
        .render_prompt_and_answer(&[msg("user", "Q?")], "Paris.")
        .unwrap();
    assert_eq!(p, "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nQ?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
    assert_eq!(a, "Paris.<|eot_id|>");
    assert_eq!(t.stop_strings(), vec!["<|eot_id|>".to_string()]);
}

#[test]
fn from_dir_reads_named_template_lists_and_added_token_objects() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = serde_json::json!({
        "bos_token": {"content": "<s>", "lstrip": false, "normalized": false, "rstrip": false, "single_word": false},
        "eos_token": "</s>",
        "chat_template": [
            {"name": "tool_use", "template": "TOOLS"},
            {"name": "default", "template": "{{ bos_token }}{% for m in messages %}{{ m.content | upper }}{% endfor %}{{ eos_token }}"},
        ],
    });
    std::fs::write(dir.path().join("tokenizer_config.json"), cfg.to_string()).unwrap();
    let t = ChatTemplate::from_dir(dir.path()).unwrap();
    assert_eq!(t.render(&[msg("user", "hi")], false).unwrap(), "<s>HI</s>");
}

#[test]
fn from_dir_falls_back_to_chat_template_jinja_and_reports_absence() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tokenizer_config.json"), "{}").unwrap();
    let err = ChatTemplate::from_dir(dir.path()).unwrap_err();
    assert!(
        err.is_bad_input() && err.to_string().contains("no chat_template"),
        "{err}"
    );
    std::fs::write(
        dir.path().join("chat_template.jinja"),
        "{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}\n",
    )
    .unwrap();
    let t = ChatTemplate::from_dir(dir.path()).unwrap();
    // Jinja drops a single trailing newline of the template, as transformers' Jinja2 does.
    assert_eq!(t.render(&[msg("user", "x")], false).unwrap(), "[user]x");
}

#[test]
fn python_string_methods_and_tojson_work_like_transformers() {
    // Expected output is what Jinja2 gives with transformers' tojson (json.dumps, ensure_ascii=False).
    let src = "{{ messages[0].content.strip() }}|{{ messages[0].content.startswith(' a') }}|\
               {{ messages[0].content.split(',') | length }}|{{ messages | tojson }}|{{ messages[0] | tojson(indent=2) }}";
    let t = ChatTemplate::from_source(src, None, None).unwrap();
    let out = t.render(&[msg("user", " a,b<c> ü")], false).unwrap();
    assert_eq!(
        out,
        "a,b<c> ü|True|2|[{\"role\": \"user\", \"content\": \" a,b<c> ü\"}]|{\n  \"role\": \"user\",\n  \"content\": \" a,b<c> ü\"\n}"
    );
}

#[test]
fn unsplittable_template_and_syntax_errors_are_bad_input() {
    let t = ChatTemplate::from_source(
        "{{ messages | length }}{% for m in messages %}{{ m.content }}{% endfor %}",
        None,
        None,
    )
    .unwrap();
    let err = t
        .render_prompt_and_answer(&[msg("user", "Q")], "A")
        .unwrap_err();
    assert!(
        err.is_bad_input() && err.to_string().contains("cannot be separated"),
        "{err}"
    );
    let err = ChatTemplate::from_source("{% for m in messages %}", None, None).unwrap_err();
    assert!(err.is_bad_input(), "{err}");
}
