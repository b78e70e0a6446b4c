//! Enum-like settings whose words belong to another crate: `[[datasets]] format` (the data
//! crate's [`Format`]), `retrieval.retriever` (the rag crate's [`Retriever`]), `[[models]] dtype`,
//! `quantize` and `compute_dtype` (the model crate's [`WeightDtype`] and [`Quantize`]). serde reads
//! them through that crate's own parser and writes that crate's own name, so each word list exists
//! once and a config file, a command-line flag and a serialized config spell a value alike.

use finefail_data::Format;
use finefail_model::error::ModelError;
use finefail_model::precision::{Quantize, WeightDtype};
use finefail_rag::retrieve::Retriever;

/// A value written as one word.
pub trait Word: Sized {
    /// The value of `word`; the error lists the valid words.
    fn from_word(word: &str) -> Result<Self, String>;
    /// The canonical word of the value (what a config serializes to).
    fn word(&self) -> String;
}

/// The message of a model-crate error, without the command-line flag it names.
fn model_message(e: ModelError) -> String {
    match e {
        ModelError::BadInput { message, .. } => message,
        e => e.to_string(),
    }
}

impl Word for Format {
    fn from_word(word: &str) -> Result<Self, String> {
        Format::parse(word)
    }
    fn word(&self) -> String {
        self.name().to_string()
    }
}

impl Word for Retriever {
    fn from_word(word: &str) -> Result<Self, String> {
        word.parse()
            .map_err(|e: finefail_rag::RagError| e.to_string())
    }
    fn word(&self) -> String {
        self.name().to_string()
    }
}

impl Word for WeightDtype {
    fn from_word(word: &str) -> Result<Self, String> {
        WeightDtype::parse(word).map_err(model_message)
    }
    fn word(&self) -> String {
        self.to_string()
    }
}

impl Word for Quantize {
    fn from_word(word: &str) -> Result<Self, String> {
        Quantize::parse(word).map_err(model_message)
    }
    fn word(&self) -> String {
        self.to_string()
    }
}

/// An optional word of model `model`'s `key`; the error names both.
pub fn parse_option<T: Word>(
    model: &str,
    key: &str,
    word: Option<String>,
) -> Result<Option<T>, String> {
    word.map(|w| T::from_word(&w))
        .transpose()
        .map_err(|e| format!("model `{model}`: {key}: {e}"))
}

/// `#[serde(with = "words::word")]`: a [`Word`] field.
pub mod word {
    use super::Word;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<T: Word, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&value.word())
    }

    pub fn deserialize<'de, T: Word, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
        T::from_word(&String::deserialize(d)?).map_err(D::Error::custom)
    }
}
