//! Parquet I/O of the canonical tables (`qa`, `corpus`, `chunks`, `retrieval`, `answers`) through
//! polars: each table's one reader beside its writer, so every crate reads a table the way it was
//! written. Writers go through [`finefail_core::atomic`]; readers check the columns and name the file, the
//! column and the row of anything missing, mistyped or null.

use crate::error::{DataError, Result};
use crate::schema::{AnswerRecord, AnswerType, Chunk, Document, Label, QaRecord};
use finefail_core::files;
use polars::prelude::*;
use std::collections::{HashMap, HashSet};
use std::path::Path;

mod label_ll;
pub use label_ll::{read_label_ll, write_label_ll, LabelLlRecord};

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

/// Reads `chunks.parquet`, in file order. A repeated `chunk_id` is bad input: retrieval rows name
/// chunks by it.
pub fn read_chunks(path: &Path) -> Result<Vec<Chunk>> {
    let df = read(path)?;
    let t = Reader { df: &df, path };
    let (ids, docs, texts) = (t.strs("chunk_id")?, t.strs("doc_id")?, t.strs("text")?);
    let (starts, ends) = (t.u64s("start")?, t.u64s("end")?);
    let mut seen = HashSet::new();
    if let Some(dup) = ids.iter().find(|id| !seen.insert(id.as_str())) {
        return Err(DataError::table(
            path,
            format!("duplicate chunk_id `{dup}`"),
        ));
    }
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

/// One retrieved chunk for one question: a row of `retrieval.parquet`, which retrieval writes once
/// per dataset and every arm (answering, rag-format training, scoring, the report) reads.
#[derive(Debug, Clone, PartialEq)]
pub struct RetrievalRow {
    /// The question the chunk was retrieved for.
    pub question_id: String,
    /// 1-based position in the ranking.
    pub rank: u32,
    /// The retrieved chunk (a `chunk_id` of `chunks.parquet`).
    pub chunk_id: String,
    /// The retriever's score (BM25 score, cosine similarity, or fused RRF score); higher is better.
    pub score: f64,
}

/// Writes `retrieval.parquet`.
pub fn write_retrieval(path: &Path, rows: &[RetrievalRow]) -> Result<()> {
    let columns = vec![
        Column::new(
            "question_id".into(),
            rows.iter()
                .map(|r| r.question_id.as_str())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "rank".into(),
            rows.iter().map(|r| r.rank).collect::<Vec<u32>>(),
        ),
        Column::new(
            "chunk_id".into(),
            rows.iter().map(|r| r.chunk_id.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            "score".into(),
            rows.iter().map(|r| r.score).collect::<Vec<f64>>(),
        ),
    ];
    write(path, rows.len(), columns)
}

/// Reads `retrieval.parquet`, rows in file order. A null anywhere, or a rank below 1, is bad input
/// naming the file (never a silent empty id or rank 0).
pub fn read_retrieval(path: &Path) -> Result<Vec<RetrievalRow>> {
    let df = read(path)?;
    let t = Reader { df: &df, path };
    let (qids, cids) = (t.strs("question_id")?, t.strs("chunk_id")?);
    let (ranks, scores) = (t.u64s("rank")?, t.f64s("score")?);
    (0..df.height())
        .map(|i| {
            let rank = u32::try_from(ranks[i])
                .ok()
                .filter(|&r| r >= 1)
                .ok_or_else(|| {
                    DataError::table(
                        path,
                        format!("row {}: rank {} is not a 1-based rank", i + 1, ranks[i]),
                    )
                })?;
            Ok(RetrievalRow {
                question_id: qids[i].clone(),
                rank,
                chunk_id: cids[i].clone(),
                score: scores[i],
            })
        })
        .collect()
}

/// Question id → its retrieved chunk ids in rank order (ties by chunk id), keeping ranks up to
/// `top_k` (`usize::MAX` for all). Questions with no row within `top_k` have no entry.
pub fn ranked_chunk_ids(rows: &[RetrievalRow], top_k: usize) -> HashMap<String, Vec<String>> {
    let mut ranked: HashMap<&str, Vec<(u32, &str)>> = HashMap::new();
    for r in rows.iter().filter(|r| r.rank as usize <= top_k) {
        ranked
            .entry(r.question_id.as_str())
            .or_default()
            .push((r.rank, r.chunk_id.as_str()));
    }
    ranked
        .into_iter()
        .map(|(q, mut v)| {
            v.sort_unstable();
            (
                q.to_owned(),
                v.into_iter().map(|(_, c)| c.to_owned()).collect(),
            )
        })
        .collect()
}

/// Question id → the texts of its retrieved chunks in rank order (ranks up to `top_k`, `usize::MAX`
/// for all), from `retrieval_dir/retrieval.parquet` and `data_dir/chunks.parquet`: the one join of
/// retrieval and chunks, so training (`rag` format), answering and scoring read the same context.
/// A missing retrieval table or a chunk id not in the chunks table is bad input.
pub fn read_ranked_chunk_texts(
    data_dir: &Path,
    retrieval_dir: &Path,
    top_k: usize,
) -> Result<HashMap<String, Vec<String>>> {
    let retrieval = retrieval_dir.join(files::RETRIEVAL);
    if !retrieval.is_file() {
        return Err(DataError::bad_input(
            &retrieval,
            "not found (run `finefail retrieve` first)",
        ));
    }
    let rows = read_retrieval(&retrieval)?;
    let chunks_path = data_dir.join(files::CHUNKS);
    let texts: HashMap<String, String> = read_chunks(&chunks_path)?
        .into_iter()
        .map(|c| (c.chunk_id, c.text))
        .collect();
    ranked_chunk_ids(&rows, top_k)
        .into_iter()
        .map(|(question, ids)| {
            let ranked = ids
                .iter()
                .map(|id| {
                    texts.get(id).cloned().ok_or_else(|| {
                        DataError::bad_input(
                            &retrieval,
                            format!("chunk `{id}` is not in {}", chunks_path.display()),
                        )
                    })
                })
                .collect::<Result<Vec<String>>>()?;
            Ok((question, ranked))
        })
        .collect()
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

/// Reads `answers.parquet` (or one of its part files), rows in file order.
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

/// Writes a data frame atomically ([`finefail_core::atomic::write_with`]).
fn write(path: &Path, height: usize, columns: Vec<Column>) -> Result<()> {
    let mut df = DataFrame::new(height, columns).map_err(|e| DataError::table(path, e))?;
    finefail_core::atomic::write_with(path, |file| {
        ParquetWriter::new(file)
            .finish(&mut df)
            .map(|_| ())
            .map_err(|e| DataError::table(path, e))
    })
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

    /// A required column: a null is bad input naming the row.
    fn strs(&self, name: &str) -> Result<Vec<String>> {
        self.opt_strs(name)?
            .into_iter()
            .enumerate()
            .map(|(i, v)| v.ok_or_else(|| self.null(name, i)))
            .collect()
    }

    fn bools(&self, name: &str) -> Result<Vec<bool>> {
        let s = self.series(name)?;
        let ca = s
            .bool()
            .map_err(|e| DataError::table(self.path, format!("column `{name}`: {e}")))?;
        ca.iter()
            .enumerate()
            .map(|(i, v)| v.ok_or_else(|| self.null(name, i)))
            .collect()
    }

    /// Unsigned integers of any integer width (a negative value is bad input, as a null is).
    fn u64s(&self, name: &str) -> Result<Vec<u64>> {
        let s = self.series(name)?;
        let cast = s
            .cast(&DataType::UInt64)
            .map_err(|e| DataError::table(self.path, format!("column `{name}`: {e}")))?;
        let ca = cast
            .u64()
            .map_err(|e| DataError::table(self.path, format!("column `{name}`: {e}")))?;
        ca.iter()
            .enumerate()
            .map(|(i, v)| {
                v.ok_or_else(|| match s.get(i) {
                    Ok(AnyValue::Null) | Err(_) => self.null(name, i),
                    Ok(other) => DataError::table(
                        self.path,
                        format!("row {}: `{name}` is {other}, not a count", i + 1),
                    ),
                })
            })
            .collect()
    }

    fn f64s(&self, name: &str) -> Result<Vec<f64>> {
        let s = self
            .series(name)?
            .cast(&DataType::Float64)
            .map_err(|e| DataError::table(self.path, format!("column `{name}`: {e}")))?;
        let ca = s
            .f64()
            .map_err(|e| DataError::table(self.path, format!("column `{name}`: {e}")))?;
        ca.iter()
            .enumerate()
            .map(|(i, v)| v.ok_or_else(|| self.null(name, i)))
            .collect()
    }

    fn null(&self, name: &str, row: usize) -> DataError {
        DataError::table(self.path, format!("row {}: null `{name}`", row + 1))
    }

    /// Lists of strings; a null list or a null item is bad input naming the row.
    fn lists(&self, name: &str) -> Result<Vec<Vec<String>>> {
        let s = self.series(name)?;
        let ca = s
            .list()
            .map_err(|e| DataError::table(self.path, format!("column `{name}`: {e}")))?;
        let mut out = Vec::with_capacity(ca.len());
        for (i, item) in ca.amortized_iter().enumerate() {
            let inner = item.ok_or_else(|| self.null(name, i))?;
            let strs = inner
                .as_ref()
                .str()
                .map_err(|e| DataError::table(self.path, format!("column `{name}`: {e}")))?;
            let v = strs
                .iter()
                .map(|x| x.map(str::to_string).ok_or_else(|| self.null(name, i)))
                .collect::<Result<Vec<String>>>()?;
            out.push(v);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(q: &str, rank: u32, c: &str) -> RetrievalRow {
        RetrievalRow {
            question_id: q.into(),
            rank,
            chunk_id: c.into(),
            score: 1.0 / f64::from(rank),
        }
    }

    #[test]
    fn retrieval_round_trips_and_groups_by_rank() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("retrieval.parquet");
        let rows = vec![
            row("q1", 2, "b#0"),
            row("q1", 1, "a#0"),
            row("q2", 1, "c#0"),
            row("q2", 3, "a#1"),
        ];
        write_retrieval(&path, &rows).unwrap();
        assert_eq!(read_retrieval(&path).unwrap(), rows);
        let all = ranked_chunk_ids(&rows, usize::MAX);
        assert_eq!(all["q1"], vec!["a#0", "b#0"]);
        assert_eq!(all["q2"], vec!["c#0", "a#1"]);
        let top1 = ranked_chunk_ids(&rows, 1);
        assert_eq!((top1["q1"].len(), top1["q2"].len()), (1, 1));
    }

    #[test]
    fn a_null_in_retrieval_is_an_error_naming_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("retrieval.parquet");
        let mut df = DataFrame::new(
            2,
            vec![
                Column::new("question_id".into(), [Some("q1"), None]),
                Column::new("rank".into(), [1u32, 1]),
                Column::new("chunk_id".into(), ["a#0", "a#1"]),
                Column::new("score".into(), [1.0f64, 0.5]),
            ],
        )
        .unwrap();
        ParquetWriter::new(std::fs::File::create(&path).unwrap())
            .finish(&mut df)
            .unwrap();
        let err = read_retrieval(&path).unwrap_err();
        assert!(err.is_bad_input(), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("retrieval.parquet") && text.contains("row 2: null `question_id`"),
            "{text}"
        );

        let mut df = DataFrame::new(
            1,
            vec![
                Column::new("question_id".into(), ["q1"]),
                Column::new("rank".into(), [0u32]),
                Column::new("chunk_id".into(), ["a#0"]),
                Column::new("score".into(), [1.0f64]),
            ],
        )
        .unwrap();
        ParquetWriter::new(std::fs::File::create(&path).unwrap())
            .finish(&mut df)
            .unwrap();
        let err = read_retrieval(&path).unwrap_err().to_string();
        assert!(err.contains("rank 0"), "{err}");
    }

    #[test]
    fn answers_keep_ms_as_written_and_chunks_reject_repeated_ids() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("answers.parquet");
        let rows = vec![AnswerRecord {
            arm: "d/m/n0".into(),
            question_id: "q1".into(),
            context: "retrieved".into(),
            answer: "Paris".into(),
            prompt_tokens: 120,
            answer_tokens: 2,
            ms: 1234,
        }];
        write_answers(&path, &rows).unwrap();
        assert_eq!(read_answers(&path).unwrap(), rows);

        let chunk = |id: &str| Chunk {
            chunk_id: id.into(),
            doc_id: "d".into(),
            start: 0,
            end: 1,
            text: "x".into(),
        };
        let path = tmp.path().join("chunks.parquet");
        write_chunks(&path, &[chunk("d#0"), chunk("d#0")]).unwrap();
        let err = read_chunks(&path).unwrap_err().to_string();
        assert!(err.contains("duplicate chunk_id `d#0`"), "{err}");
    }
}
