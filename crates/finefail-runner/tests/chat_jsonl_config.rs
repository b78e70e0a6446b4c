//! `[[datasets]] format = "chat-jsonl"` (issue 28): a config names the chat format like any other,
//! with the chat importer's column map, and writes the same word back.

use finefail_data::Format;
use finefail_runner::load;
use std::io::Write;

#[test]
fn a_dataset_in_chat_jsonl() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.toml");
    std::fs::File::create(&path)
        .unwrap()
        .write_all(
            br#"
[[datasets]]
name = "support"
format = "chat-jsonl"
input = "support.jsonl"
map = "context=system"
[[models]]
name = "m"
path = "p"
"#,
        )
        .unwrap();
    let config = load(&path, &[]).unwrap();
    let d = &config.datasets[0];
    assert_eq!(d.format, Format::ChatJsonl);
    assert_eq!(d.map.as_deref(), Some("context=system"));
    let json = serde_json::to_value(&config).unwrap();
    assert_eq!(json["datasets"][0]["format"], "chat-jsonl");
}
