//! What an arm answers from: retrieved chunks, no context, or the gold documents. Shared by the
//! answering arms and the test inputs they read.

/// What an arm answers from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerContext {
    /// The top-k retrieved chunks (the study's setting).
    Retrieved,
    /// No context: closed book.
    None,
    /// The gold documents' chunks (retrieval taken out of the picture).
    Gold,
}

impl AnswerContext {
    /// Parses `retrieved`, `none` or `gold`.
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        match s {
            "retrieved" => Ok(Self::Retrieved),
            "none" => Ok(Self::None),
            "gold" => Ok(Self::Gold),
            _ => Err(format!(
                "context `{s}` is unknown; use retrieved, none or gold"
            )),
        }
    }

    /// The name stored in `answers.parquet` and used as arm suffix (`@none`, `@gold`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Retrieved => "retrieved",
            Self::None => "none",
            Self::Gold => "gold",
        }
    }
}
