//! The one definition of config keys, and the one `--set` parser.
//!
//! The keys of a config are the fields of its serde structs: [`Schema::of`] walks a type's
//! `Deserialize` impl and records the field list serde derives for every table it meets, so no
//! hand-copied key list can drift from the structs. On that walk sit the pieces every config
//! reader shares: [`Schema::apply_set`] (`finefail run --set` and `finefail finetune --set`: values
//! parsed as TOML, arrays of tables addressed by entry name), [`Schema::check`] (an unknown key is
//! an error naming the closest valid key) and [`Schema::read`] (typed values, a bad value named by
//! its key on one line).

use serde::de::{self, DeserializeOwned, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use std::cell::RefCell;
use toml::{Table, Value};

/// One table of a config: where it is, whether it is an array of tables, and its keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyTable {
    /// Dotted path from the top: `""` (the top level), `train`, `datasets`.
    pub path: String,
    /// An array of tables (`[[datasets]]`), whose entries `--set` addresses by their `name`.
    pub array: bool,
    /// The keys, in the order the struct declares them.
    pub keys: Vec<&'static str>,
}

/// Every table of a config type and its keys, walked from the type itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    tables: Vec<KeyTable>,
}

impl Schema {
    /// The schema of `T`: the top level, then every table reachable from it (sections, optional
    /// sections, arrays of tables), each with the fields serde derives for it.
    pub fn of<T: DeserializeOwned>() -> Self {
        let mut tables = Vec::new();
        let mut queue: Vec<Vec<&'static str>> = vec![Vec::new()];
        let mut next = 0;
        while next < queue.len() {
            let path = queue[next].clone();
            next += 1;
            if let Some(Node::Table { keys, array }) = probe::<T>(&path) {
                for k in keys {
                    let mut child = path.clone();
                    child.push(k);
                    queue.push(child);
                }
                tables.push(KeyTable {
                    path: path.join("."),
                    array,
                    keys: keys.to_vec(),
                });
            }
        }
        Self { tables }
    }

    /// Every table, the top level first.
    pub fn tables(&self) -> &[KeyTable] {
        &self.tables
    }

    /// The table at the dotted `path` (`""` = the top level).
    pub fn table(&self, path: &str) -> Option<&KeyTable> {
        self.tables.iter().find(|t| t.path == path)
    }

    /// The valid keys of the table at `path` (empty for an unknown table).
    pub fn keys_of(&self, path: &str) -> &[&'static str] {
        self.table(path).map_or(&[], |t| &t.keys)
    }

    /// Every key that holds a value (not a table), written as docs/config.md and the errors write
    /// it: `name`, `train.lr`, `[[datasets]] name`.
    pub fn value_keys(&self) -> Vec<String> {
        let mut out = Vec::new();
        for t in &self.tables {
            for k in &t.keys {
                if self.table(&join(&t.path, k)).is_none() {
                    out.push(format!("{}{k}", self.prefix(&t.path)));
                }
            }
        }
        out
    }

    /// How a key of the table at `path` is written: `` (top level), `train.`, `[[datasets]] `.
    fn prefix(&self, path: &str) -> String {
        match self.table(path) {
            _ if path.is_empty() => String::new(),
            Some(t) if t.array => format!("[[{path}]] "),
            _ => format!("{path}."),
        }
    }

    /// Applies one `KEY=VALUE` to `table`. KEY is dotted (`device`, `train.lr`); an entry of an
    /// array of tables is addressed by its `name` (`datasets.pubmedqa.test_size`). VALUE is TOML
    /// (`[0,50]`, `3`, `"x"`); what is not TOML is taken as a string (`cuda:1`, `cosine`).
    /// An unknown key is an error here, naming the closest valid one, so that the `--set` — not
    /// the config file — is blamed for it.
    pub fn apply_set(&self, table: &mut Table, spec: &str) -> Result<(), String> {
        let (key, raw) = spec
            .split_once('=')
            .ok_or("expected KEY=VALUE, the value in TOML (`--set sweep.sizes=[0,32]`)")?;
        let parts: Vec<&str> = key.trim().split('.').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(format!("`{}` is not a key", key.trim()));
        }
        self.key_path(&parts)?;
        self.set_at("", table, &parts, parse_value(raw.trim()))
    }

    /// The key a `--set` sets, as the errors write it (`sweep.sizes`, `[[datasets]] test_size`),
    /// or why it is not a key: unknown (naming the closest valid key), or a value addressed as a
    /// table. Entry names of arrays of tables are skipped (`datasets.pubmedqa.test_size`).
    pub fn key_path(&self, parts: &[&str]) -> Result<String, String> {
        let mut path = String::new();
        let mut rest = parts;
        while let Some((head, tail)) = rest.split_first() {
            let valid = self.keys_of(&path);
            if !valid.contains(head) {
                let prefix = self.prefix(&path);
                let closest = valid
                    .iter()
                    .min_by_key(|k| strsim::levenshtein(k, head))
                    .copied()
                    .unwrap_or("");
                return Err(format!(
                    "unknown key `{prefix}{head}`; did you mean `{prefix}{closest}`?"
                ));
            }
            let child = join(&path, head);
            rest = match self.table(&child) {
                _ if tail.is_empty() => tail,
                // An entry name, then its key (set_at says what is missing).
                Some(t) if t.array => tail.get(1..).unwrap_or_default(),
                Some(_) => tail,
                None => {
                    return Err(format!(
                        "`{}` is a value, not a table",
                        self.show_key(&child)
                    ))
                }
            };
            path = child;
        }
        Ok(self.show_key(&path))
    }

    /// The message of a `--set SPEC` rejected with `message` (callers write `--set SPEC: ` before
    /// it): when its value was a list without brackets — not TOML, so read as a string where a
    /// string does not fit — it shows how to write it (`--set sweep.sizes=[0,32]`).
    pub fn explain_set(spec: &str, message: &str) -> String {
        let (key, raw) = spec.split_once('=').unwrap_or((spec, ""));
        let (key, raw) = (key.trim(), raw.trim());
        // Not TOML, so read as a string, where a string does not fit: most often a list
        // written without brackets (`0,32`).
        let list_without_brackets = matches!(parse_value(raw), Value::String(ref v) if v == raw)
            && message.contains("invalid type: string")
            && (raw.contains(',') || message.contains("expected a sequence"));
        if !list_without_brackets {
            return message.to_string();
        }
        let item = |i: &str| match parse_value(i) {
            Value::String(_) => format!("\"{i}\""),
            _ => i.to_string(),
        };
        let items: Vec<String> = raw.split(',').map(|i| item(i.trim())).collect();
        format!(
            "{message} (the value is TOML: write `--set {key}=[{}]`)",
            items.join(",")
        )
    }

    fn set_at(
        &self,
        path: &str,
        table: &mut Table,
        parts: &[&str],
        value: Value,
    ) -> Result<(), String> {
        let Some((head, rest)) = parts.split_first() else {
            return Err("empty key".into());
        };
        if rest.is_empty() {
            table.insert(head.to_string(), value);
            return Ok(());
        }
        let child = join(path, head);
        if self.table(&child).is_some_and(|t| t.array) {
            let Some((name, rest)) = rest.split_first().filter(|(_, r)| !r.is_empty()) else {
                return Err(format!(
                    "`{head}` entries are addressed by name: `{child}.NAME.KEY`"
                ));
            };
            let entries = table
                .get_mut(*head)
                .and_then(Value::as_array_mut)
                .ok_or_else(|| format!("the config has no {head}"))?;
            let names: Vec<String> = entries
                .iter()
                .filter_map(|e| e.get("name")?.as_str().map(String::from))
                .collect();
            let entry = entries
                .iter_mut()
                .find(|e| e.get("name").and_then(Value::as_str) == Some(*name))
                .ok_or_else(|| {
                    format!("no {head} entry named `{name}`; have: {}", names.join(", "))
                })?
                .as_table_mut()
                .ok_or_else(|| format!("a {head} entry is not a table"))?;
            return self.set_at(&child, entry, rest, value);
        }
        let sub = table
            .entry(head.to_string())
            .or_insert_with(|| Value::Table(Table::new()))
            .as_table_mut()
            .ok_or_else(|| format!("`{child}` is not a table"))?;
        self.set_at(&child, sub, rest, value)
    }

    /// Every key of `table` must be in the schema; the error names the closest valid key.
    pub fn check(&self, table: &Table) -> Result<(), String> {
        self.check_at("", table)
    }

    fn check_at(&self, path: &str, table: &Table) -> Result<(), String> {
        let valid = self.keys_of(path);
        for (key, value) in table {
            if !valid.contains(&key.as_str()) {
                let prefix = self.prefix(path);
                let closest = valid
                    .iter()
                    .min_by_key(|k| strsim::levenshtein(k, key))
                    .copied()
                    .unwrap_or("");
                return Err(format!(
                    "unknown key `{prefix}{key}`; did you mean `{prefix}{closest}`?"
                ));
            }
            let child = join(path, key);
            match (self.table(&child), value) {
                (Some(t), Value::Table(sub)) if !t.array => self.check_at(&child, sub)?,
                (Some(t), Value::Array(items)) if t.array => {
                    for sub in items.iter().filter_map(Value::as_table) {
                        self.check_at(&child, sub)?;
                    }
                }
                // A value of the wrong shape: reading it names the key and the type.
                _ => {}
            }
        }
        Ok(())
    }

    /// Reads `table` as `T`; a bad value is one line naming its key (`chunking.unit: unknown
    /// variant `words`, expected `chars` or `tokens``).
    pub fn read<T: DeserializeOwned>(&self, table: Table) -> Result<T, String> {
        Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| {
                let message = e.message().replace('\n', " ");
                // toml records the key path only in its Display: "…\nin `train.format`".
                let shown = e.to_string();
                let key = shown
                    .lines()
                    .rev()
                    .find_map(|l| l.strip_prefix("in `")?.strip_suffix('`'))
                    .map(|path| self.show_key(path));
                match key {
                    Some(k) if !message.starts_with(&k) => format!("{k}: {message}"),
                    _ => message,
                }
            })
    }

    /// A dotted path as the errors write it: `datasets.split_unit` → `[[datasets]] split_unit`.
    fn show_key(&self, path: &str) -> String {
        match path.rsplit_once('.') {
            Some((table, key)) => format!("{}{key}", self.prefix(table)),
            None if self.table(path).is_some_and(|t| t.array) => format!("[[{path}]]"),
            None => path.to_string(),
        }
    }
}

/// A `--set` value: TOML (`[0,50]`, `3`, `1e-4`, `"x"`), else the raw text as a string.
pub fn parse_value(raw: &str) -> Value {
    format!("v = {raw}")
        .parse::<Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(raw.to_string()))
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// What the walk found at a path.
enum Node {
    /// A struct: its serde field names; `array` when it is the element of a sequence.
    Table {
        keys: &'static [&'static str],
        array: bool,
    },
    /// Anything else (a number, a string, a list of values, an enum).
    Value,
}

/// Deserializes `T` from a [`Probe`] that follows `path` and records what it finds there.
fn probe<T: DeserializeOwned>(path: &[&'static str]) -> Option<Node> {
    let found = RefCell::new(None);
    // The probe always ends in an error once it has recorded the node: there is no value to build.
    let _ = T::deserialize(Probe {
        rest: path,
        found: &found,
        element: false,
    });
    found.into_inner()
}

/// A deserializer that offers one key at a time down a path and, at the path's end, records the
/// field list serde passes to `deserialize_struct` (or that the value is not a table).
struct Probe<'a> {
    rest: &'a [&'static str],
    found: &'a RefCell<Option<Node>>,
    /// Deserializing the element of a sequence (an array of tables when it is a struct).
    element: bool,
}

type ProbeError = de::value::Error;

fn stop() -> ProbeError {
    de::Error::custom("schema probe")
}

impl<'de> de::Deserializer<'de> for Probe<'_> {
    type Error = ProbeError;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, ProbeError> {
        if self.rest.is_empty() {
            *self.found.borrow_mut() = Some(Node::Value);
        }
        Err(stop())
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ProbeError> {
        match self.rest.split_first() {
            None => {
                *self.found.borrow_mut() = Some(Node::Table {
                    keys: fields,
                    array: self.element,
                });
                Err(stop())
            }
            Some((key, rest)) => visitor.visit_map(OneKey {
                key: Some(key),
                value: Some(Probe {
                    rest,
                    found: self.found,
                    element: false,
                }),
            }),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ProbeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        visitor.visit_seq(OneElement(Some(Probe {
            element: true,
            ..self
        })))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct tuple tuple_struct map enum identifier ignored_any
    }
}

/// A map of one key whose value is the next probe.
struct OneKey<'a> {
    key: Option<&'static str>,
    value: Option<Probe<'a>>,
}

impl<'de> MapAccess<'de> for OneKey<'_> {
    type Error = ProbeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ProbeError> {
        match self.key.take() {
            Some(k) => seed
                .deserialize(de::value::StrDeserializer::<ProbeError>::new(k))
                .map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, ProbeError> {
        seed.deserialize(self.value.take().ok_or_else(stop)?)
    }
}

/// A sequence of one element: the next probe.
struct OneElement<'a>(Option<Probe<'a>>);

impl<'de> SeqAccess<'de> for OneElement<'_> {
    type Error = ProbeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ProbeError> {
        match self.0.take() {
            Some(p) => seed.deserialize(p).map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Top {
        name: Option<String>,
        items: Vec<Item>,
        section: Section,
        optional: Option<Section>,
        words: Vec<String>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Item {
        name: String,
        size: usize,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Section {
        pair: [f64; 2],
        kind: Kind,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Kind {
        #[default]
        One,
        Two,
    }

    #[test]
    fn the_walk_finds_every_table_and_key() {
        let s = Schema::of::<Top>();
        assert_eq!(
            s.keys_of(""),
            ["name", "items", "section", "optional", "words"]
        );
        assert!(s.table("items").unwrap().array);
        assert_eq!(s.keys_of("items"), ["name", "size"]);
        assert_eq!(s.keys_of("optional"), ["pair", "kind"]);
        assert!(s.table("words").is_none());
        assert_eq!(
            s.value_keys(),
            [
                "name",
                "words",
                "[[items]] name",
                "[[items]] size",
                "section.pair",
                "section.kind",
                "optional.pair",
                "optional.kind"
            ]
        );
    }

    #[test]
    fn set_check_and_read_name_the_key() {
        let s = Schema::of::<Top>();
        let mut t: Table = "[[items]]\nname = \"a\"\n".parse().unwrap();
        s.apply_set(&mut t, "items.a.size=3").unwrap();
        s.apply_set(&mut t, "section.kind=two").unwrap();
        s.apply_set(&mut t, "words=[\"x\", \"y\"]").unwrap();
        let e = s.apply_set(&mut t, "items.b.size=3").unwrap_err();
        assert_eq!(e, "no items entry named `b`; have: a");
        assert!(s.apply_set(&mut t, "items.size=3").is_err());
        let top: Top = s.read(t.clone()).unwrap();
        assert_eq!((top.items[0].size, top.words.len()), (3, 2));
        assert!(matches!(top.section.kind, Kind::Two));
        // A --set's key is checked as it is applied; a file's by `check`.
        assert_eq!(
            s.apply_set(&mut t, "section.kidn=two").unwrap_err(),
            "unknown key `section.kidn`; did you mean `section.kind`?"
        );
        t["section"]
            .as_table_mut()
            .unwrap()
            .insert("kidn".into(), "two".into());
        assert_eq!(
            s.check(&t).unwrap_err(),
            "unknown key `section.kidn`; did you mean `section.kind`?"
        );
        let mut t: Table = "[[items]]\nname = \"a\"\nsise = 1\n".parse().unwrap();
        assert_eq!(
            s.check(&t).unwrap_err(),
            "unknown key `[[items]] sise`; did you mean `[[items]] size`?"
        );
        t = "[section]\nkind = \"three\"\n".parse().unwrap();
        let e = s.read::<Top>(t).unwrap_err();
        assert!(
            e.starts_with("section.kind: unknown variant `three`"),
            "{e}"
        );
        // A --set's key as the errors write it.
        assert_eq!(
            s.key_path(&["items", "a", "size"]).unwrap(),
            "[[items]] size"
        );
        assert_eq!(s.key_path(&["section", "kind"]).unwrap(), "section.kind");
        assert_eq!(
            s.key_path(&["name", "x"]).unwrap_err(),
            "`name` is a value, not a table"
        );
        t = "[[items]]\nsize = \"big\"\n".parse().unwrap();
        let e = s.read::<Top>(t).unwrap_err();
        assert!(e.starts_with("[[items]] size: invalid type"), "{e}");
    }
}
