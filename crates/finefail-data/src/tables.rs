//! Parquet I/O of the canonical tables (`qa`, `corpus`, `chunks`) through polars. Writers go
//! through a temporary file and a rename; readers check the columns and name what is missing.

use crate::error::{DataError, Result};
use crate::schema::{AnswerRecord, AnswerType, Chunk, Document, Label, QaRecord};
use polars::prelude::*;
use std::path::Path;

/// Writes `qa.parquet`.
pub fn write_qa(path: &Path, rows: &[QaRecord]) -> Result<()> {
    let columns = vec![
        str_col("id", rows.iter().map(|r| Some(r.id.as_str()))),
        str_col("dataset", rows.iter().map(|r| Some(r.dataset.as_str()))),
        str_col("question", rows.iter().map(|r| Some(r.question.as_str()))),
        list_col("answers", rows.iter().map(|r| &r.answers)),
        str_col(
            "answer_type",
            rows.iter().map(|r| Some(r.answer_type.as_str())),
        ),
        str_col("label", rows.iter().map(|r| r.label.map(Label::as_str))),
        Column::new(
            "answerable".into(),
            rows.iter().map(|r| r.answerable).collect::<Vec<_>>(),
        ),
        list_col("gold_doc_ids", rows.iter().map(|r| &r.gold_doc_ids)),
        str_col(
            "source_split",
            rows.iter().map(|r| Some(r.source_split.as_str())),
        ),
    ];
    write(path, rows.len(), columns)
}

/// Reads `qa.parquet`.
pub fn read_qa(path: &Path) -> Result<Vec<QaRecord>> {
    let df = read(path)?;
    let t = Reader { df: &df, path };
    let (ids, datasets, questions) = (t.strs("id")?, t.strs("dataset")?, t.strs("question")?);
    let (answers, types, labels) = (
        t.lists("answers")?,
        t.strs("answer_type")?,
        t.opt_strs("label")?,
    );
    let (answerable, gold, splits) = (
        t.bools("answerable")?,
        t.lists("gold_doc_ids")?,
        t.strs("source_split")?,
    );
    let mut out = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        let answer_type = AnswerType::parse(&types[i]).ok_or_else(|| {
            DataError::bad_record(
                path,
                format!("row {}", i + 1),
                format!("unknown answer_type `{}`", types[i]),
            )
        })?;
        let label = match &labels[i] {
            None => None,
            Some(l) => Some(Label::parse(l).ok_or_else(|| {
                DataError::bad_record(
                    path,
                    format!("row {}", i + 1),
                    format!("unknown label `{l}`"),
                )
            })?),
        };
        out.push(QaRecord {
            id: ids[i].clone(),
            dataset: datasets[i].clone(),
            question: questions[i].clone(),
            answers: answers[i].clone(),
            answer_type,
            label,
            answerable: answerable[i],
            gold_doc_ids: gold[i].clone(),
            source_split: splits[i].clone(),
        });
    }
    Ok(out)
}

/// Writes `corpus.parquet`.
pub fn write_corpus(path: &Path, docs: &[Document]) -> Result<()> {
    let columns = vec![
        str_col("doc_id", docs.iter().map(|d| Some(d.doc_id.as_str()))),
        str_col("title", docs.iter().map(|d| Some(d.title.as_str()))),
        str_col("text", docs.iter().map(|d| Some(d.text.as_str()))),
    ];
    write(path, docs.len(), columns)
}

/// Reads `corpus.parquet`.
pub fn read_corpus(path: &Path) -> Result<Vec<Document>> {
    let df = read(path)?;
    let t = Reader { df: &df, path };
    let (ids, titles, texts) = (t.strs("doc_id")?, t.strs("title")?, t.strs("text")?);
    Ok((0..df.height())
        .map(|i| Document {
            doc_id: ids[i].clone(),
            title: titles[i].clone(),
            text: texts[i].clone(),
        })
        .collect())
}

/// Writes `chunks.parquet`.
pub fn write_chunks(path: &Path, chunks: &[Chunk]) -> Result<()> {
    let columns = vec![
        str_col("chunk_id", chunks.iter().map(|c| Some(c.chunk_id.as_str()))),
        str_col("doc_id", chunks.iter().map(|c| Some(c.doc_id.as_str()))),
        Column::new(
            "start".into(),
            chunks.iter().map(|c| c.start).collect::<Vec<u64>>(),
        ),
        Column::new(
            "end".into(),
            chunks.iter().map(|c| c.end).collect::<Vec<u64>>(),
        ),
        str_col("text", chunks.iter().map(|c| Some(c.text.as_str()))),
    ];
    write(path, chunks.len(), columns)
}

/// Reads `chunks.parquet`.
pub fn read_chunks(path: &Path) -> Result<Vec<Chunk>> {
    let df = read(path)?;
    let t = Reader { df: &df, path };
    let (ids, docs, texts) = (t.strs("chunk_id")?, t.strs("doc_id")?, t.strs("text")?);
    let (starts, ends) = (t.u64s("start")?, t.u64s("end")?);
    Ok((0..df.height())
        .map(|i| Chunk {
            chunk_id: ids[i].clone(),
            doc_id: docs[i].clone(),
            start: starts[i],
            end: ends[i],
            text: texts[i].clone(),
        })
        .collect())
}

/// Writes `answers.parquet` (or one of its part files).
pub fn write_answers(path: &Path, rows: &[AnswerRecord]) -> Result<()> {
    let u64_col = |name: &str, f: fn(&AnswerRecord) -> u64| {
        Column::new(name.into(), rows.iter().map(f).collect::<Vec<u64>>())
    };
    let columns = vec![
        str_col("arm", rows.iter().map(|r| Some(r.arm.as_str()))),
        str_col(
            "question_id",
            rows.iter().map(|r| Some(r.question_id.as_str())),
        ),
        str_col("context", rows.iter().map(|r| Some(r.context.as_str()))),
        str_col("answer", rows.iter().map(|r| Some(r.answer.as_str()))),
        u64_col("prompt_tokens", |r| r.prompt_tokens),
        u64_col("answer_tokens", |r| r.answer_tokens),
        u64_col("ms", |r| r.ms),
    ];
    write(path, rows.len(), columns)
}

/// Reads `answers.parquet`.
pub fn read_answers(path: &Path) -> Result<Vec<AnswerRecord>> {
    let df = read(path)?;
    let t = Reader { df: &df, path };
    let (arms, qids, contexts, answers) = (
        t.strs("arm")?,
        t.strs("question_id")?,
        t.strs("context")?,
        t.strs("answer")?,
    );
    let (prompt, tokens, ms) = (
        t.u64s("prompt_tokens")?,
        t.u64s("answer_tokens")?,
        t.u64s("ms")?,
    );
    Ok((0..df.height())
        .map(|i| AnswerRecord {
            arm: arms[i].clone(),
            question_id: qids[i].clone(),
            context: contexts[i].clone(),
            answer: answers[i].clone(),
            prompt_tokens: prompt[i],
            answer_tokens: tokens[i],
            ms: ms[i],
        })
        .collect())
}

fn str_col<'a>(name: &str, values: impl Iterator<Item = Option<&'a str>>) -> Column {
    Column::new(name.into(), values.collect::<Vec<Option<&str>>>())
}

fn list_col<'a>(name: &str, values: impl Iterator<Item = &'a Vec<String>>) -> Column {
    let series: Vec<Series> = values
        .map(|v| Series::new(PlSmallStr::EMPTY, v.as_slice()))
        .collect();
    let mut s = Series::new(name.into(), series.as_slice());
    if series.is_empty() {
        s = Series::new_empty(name.into(), &DataType::List(Box::new(DataType::String)));
    }
    // Lists that happen to be all empty must still be typed list<str>.
    let s = s
        .cast(&DataType::List(Box::new(DataType::String)))
        .unwrap_or(s);
    s.into_column()
}

/// Writes a data frame through a temporary sibling file and a rename.
fn write(path: &Path, height: usize, columns: Vec<Column>) -> Result<()> {
    let mut df = DataFrame::new(height, columns).map_err(|e| DataError::table(path, e))?;
    let tmp = crate::atomic::temp_sibling(path);
    let file = std::fs::File::create(&tmp).map_err(|e| DataError::io(&tmp, e))?;
    let written = ParquetWriter::new(file).finish(&mut df);
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(DataError::table(path, e));
    }
    std::fs::rename(&tmp, path).map_err(|e| DataError::io(path, e))
}

fn read(path: &Path) -> Result<DataFrame> {
    let file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    ParquetReader::new(file)
        .finish()
        .map_err(|e| DataError::table(path, format!("not a readable parquet table: {e}")))
}

/// Typed column access with errors that name the table and the column.
struct Reader<'a> {
    df: &'a DataFrame,
    path: &'a Path,
}

impl Reader<'_> {
    fn series(&self, name: &str) -> Result<&Series> {
        self.df
            .column(name)
            .map(Column::as_materialized_series)
            .map_err(|_| DataError::table(self.path, format!("missing column `{name}`")))
    }

    fn opt_strs(&self, name: &str) -> Result<Vec<Option<String>>> {
        let s = self.series(name)?;
        let ca = s
            .str()
            .map_err(|e| DataError::table(self.path, format!("column `{name}`: {e}")))?;
        Ok(ca.iter().map(|v| v.map(str::to_string)).collect())
    }

    fn strs(&self, name: &str) -> Result<Vec<String>> {
        Ok(self
            .opt_strs(name)?
            .into_iter()
            .map(Option::unwrap_or_default)
            .collect())
    }

    fn bools(&self, name: &str) -> Result<Vec<bool>> {
        let s = self.series(name)?;
        let ca = s
            .bool()
            .map_err(|e| DataError::table(self.path, format!("column `{name}`: {e}")))?;
        Ok(ca.iter().map(|v| v.unwrap_or(false)).collect())
    }

    fn u64s(&self, name: &str) -> Result<Vec<u64>> {
        let s = self
            .series(name)?
            .cast(&DataType::UInt64)
            .map_err(|e| DataError::table(self.path, format!("column `{name}`: {e}")))?;
        let ca = s
            .u64()
            .map_err(|e| DataError::table(self.path, format!("column `{name}`: {e}")))?;
        Ok(ca.iter().map(|v| v.unwrap_or(0)).collect())
    }

    fn lists(&self, name: &str) -> Result<Vec<Vec<String>>> {
        let s = self.series(name)?;
        let ca = s
            .list()
            .map_err(|e| DataError::table(self.path, format!("column `{name}`: {e}")))?;
        let mut out = Vec::with_capacity(ca.len());
        for item in ca.amortized_iter() {
            let v = match item {
                None => Vec::new(),
                Some(inner) => {
                    let strs = inner.as_ref().str().map_err(|e| {
                        DataError::table(self.path, format!("column `{name}`: {e}"))
                    })?;
                    strs.iter()
                        .map(|x| x.unwrap_or_default().to_string())
                        .collect()
                }
            };
            out.push(v);
        }
        Ok(out)
    }
}
