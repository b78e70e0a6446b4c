//! `stats.family` (issue 24): the Holm family scope is a config key, settable in the file and by
//! `--set`; left at its default it is not serialized, so existing configs keep their hash.

use finefail_runner::{load, Config};
use finefail_score::HolmFamily;
use std::io::Write;

fn config(extra: &str, sets: &[&str]) -> finefail_runner::Result<Config> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.toml");
    let text = format!(
        "[[datasets]]\nname = \"d\"\nformat = \"jsonl\"\ninput = \"x.jsonl\"\n\
         [[models]]\nname = \"m\"\npath = \"p\"\n{extra}"
    );
    std::fs::File::create(&path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    load(&path, &sets)
}

#[test]
fn the_family_is_a_config_key_with_a_hash_neutral_default() {
    let default = config("", &[]).unwrap();
    assert_eq!(default.stats.family, HolmFamily::DatasetModelContext);
    let json = serde_json::to_value(&default.stats).unwrap();
    assert!(json.get("family").is_none(), "{json}");

    let explicit = config("[stats]\nfamily = \"dataset_model_context\"\n", &[]).unwrap();
    assert_eq!(explicit.hash(), default.hash());

    let wide = config("[stats]\nfamily = \"context\"\n", &[]).unwrap();
    assert_eq!(wide.stats.family, HolmFamily::Context);
    assert_ne!(wide.hash(), default.hash());
    let set = config("", &["stats.family=\"context\""]).unwrap();
    assert_eq!(set.stats.family, HolmFamily::Context);

    assert!(config("[stats]\nfamily = \"everything\"\n", &[]).is_err());
}
