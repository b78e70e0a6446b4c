"""sentence-transformers peer for the embedder: chunks/s of all-MiniLM-L6-v2 on a prepared dataset's
chunks (needs sentence-transformers and pyarrow in the peers' venv).

    ~/.cache/finefail/peers/venv/bin/python scripts/bench/embed_peer.py \
        --chunks data/prepared/narrativeqa/chunks.parquet --embedder checkpoints/all-minilm-l6-v2

Ours, on the same chunks: `finefail retrieve --retriever dense` with an empty embedding cache
(HOME pointing at an empty folder), minus the question embedding. Prints JSON:
{"peer", "chunks", "seconds", "chunks_per_s", "torch_threads"}.
"""

import argparse
import json
import time

import pyarrow.parquet as pq
import torch
from sentence_transformers import SentenceTransformer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chunks", required=True)
    ap.add_argument("--embedder", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    texts = [str(t) for t in pq.read_table(args.chunks).column("text").to_pylist()]
    model = SentenceTransformer(args.embedder, device="cpu")
    model.encode(texts[:8], batch_size=args.batch)  # warm-up
    start = time.perf_counter()
    model.encode(texts, batch_size=args.batch, normalize_embeddings=True, convert_to_numpy=True)
    seconds = time.perf_counter() - start
    out = {
        "peer": "sentence-transformers",
        "chunks": len(texts),
        "seconds": seconds,
        "chunks_per_s": len(texts) / seconds,
        "torch_threads": args.threads,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
