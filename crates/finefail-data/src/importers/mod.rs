//! Importers: one module per source format, each turning the source's files into [`Imported`]
//! raw records; the dataset builder then settles ids, duplicates and documents.

pub mod bioasq;
pub mod chat_jsonl;
pub mod generic;
pub mod inputs;
pub mod json_util;
pub mod langtest;
pub mod nq;
pub mod qasper;
pub mod raw;
pub mod squad;

pub use generic::{ColumnMap, TableFormat};
pub use raw::{Imported, Locator, RawDocument, RawRecord};

use crate::error::Result;
use std::path::Path;

/// The source formats `data prepare --format` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    NarrativeQa,
    PubMedQa,
    DisflQa,
    BoolQ,
    Squad,
    BioAsq,
    Nq,
    Qasper,
    Jsonl,
    Csv,
    Parquet,
    /// OpenAI fine-tuning chat lines (`{"messages": [...]}`), what `data export` writes.
    ChatJsonl,
}

impl Format {
    /// Every format with its command-line name, in the order the help lists them.
    pub const ALL: [(Format, &'static str); 12] = [
        (Format::NarrativeQa, "narrativeqa"),
        (Format::PubMedQa, "pubmedqa"),
        (Format::DisflQa, "disflqa"),
        (Format::BoolQ, "boolq"),
        (Format::Squad, "squad"),
        (Format::BioAsq, "bioasq"),
        (Format::Nq, "nq"),
        (Format::Qasper, "qasper"),
        (Format::Jsonl, "jsonl"),
        (Format::Csv, "csv"),
        (Format::Parquet, "parquet"),
        (Format::ChatJsonl, "chat-jsonl"),
    ];

    /// Parses a command-line format name; the error lists the valid ones.
    pub fn parse(name: &str) -> std::result::Result<Self, String> {
        let lower = name.to_ascii_lowercase();
        Self::ALL
            .iter()
            .find(|(_, n)| *n == lower)
            .map(|(f, _)| *f)
            .ok_or_else(|| {
                format!(
                    "unknown format `{name}`; valid formats: {}",
                    Self::ALL
                        .iter()
                        .map(|(_, n)| *n)
                        .collect::<Vec<_>>()
                        .join(" ")
                )
            })
    }

    /// The command-line name (also the default dataset name).
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(f, _)| *f == self)
            .map(|(_, n)| *n)
            .unwrap_or("unknown")
    }
}

/// Reads `input` in `format` (`map` applies to the generic formats and chat-jsonl only).
pub fn import(format: Format, input: &Path, map: &ColumnMap) -> Result<Imported> {
    match format {
        Format::NarrativeQa => langtest::narrativeqa(input),
        Format::PubMedQa => langtest::pubmedqa(input),
        Format::DisflQa => langtest::disflqa(input),
        Format::BoolQ => langtest::boolq(input),
        Format::Squad => squad::import(input),
        Format::BioAsq => bioasq::import(input),
        Format::Nq => nq::import(input),
        Format::Qasper => qasper::import(input),
        Format::Jsonl => generic::import(input, TableFormat::Jsonl, map),
        Format::Csv => generic::import(input, TableFormat::Csv, map),
        Format::Parquet => generic::import(input, TableFormat::Parquet, map),
        Format::ChatJsonl => chat_jsonl::import(input, map),
    }
}
