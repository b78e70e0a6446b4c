#!/usr/bin/env python3
"""llama.cpp peer for `make bench`, stdlib only.

Runs llama.cpp's own benchmark tools on the Q4_1 GGUF of the default model and rewrites their output
in the shape of `finefail bench generate` (plus "peer" and "note"):
  batch 1: llama-bench -t T -p P -n N  (pp P = prefill of one P-token prompt; tg N = N decode steps,
           which llama-bench times from an empty context)
  batch B: llama-batched-bench -npp P -ntg N -npl B  (B sequences of P tokens prefilled together,
           then N decode steps for all B sequences, after the prompt)
Peak RSS is the child's ru_maxrss. The weights are Q4_1, not f32 as ours: a reference point only.
"""
import argparse
import json
import os
import resource
import subprocess
import sys

# setup-peers.sh builds the llama.cpp tree vendored in this sdist (no git, so no build commit)
SOURCE = "llama.cpp from llama-cpp-python 0.3.36"
PEERS = os.environ.get("FINEFAIL_PEERS", os.path.expanduser("~/.cache/finefail/peers"))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--gguf", default=os.path.join(PEERS, "gguf", "SmolLM2-135M-Instruct.Q4_1.gguf"))
    p.add_argument("--bin-dir", default=os.path.join(PEERS, "llama.cpp", "build", "bin"))
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--prompt-len", type=int, default=512)
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=3, help="llama-bench repetitions (batch 1 only)")
    p.add_argument("--json", help="also write the JSON object to this file")
    return p.parse_args()


def run(cmd):
    """Runs cmd, returns its stdout; exits with its stderr tail on failure."""
    print("llama.cpp: " + " ".join(cmd), file=sys.stderr, flush=True)
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"llama.cpp: {cmd[0]} exited {r.returncode}:\n{r.stderr[-2000:]}")
    return r.stdout


def batch1(a):
    out = run([os.path.join(a.bin_dir, "llama-bench"), "-m", a.gguf, "-t", str(a.threads),
               "-p", str(a.prompt_len), "-n", str(a.new_tokens), "-r", str(a.reps), "-o", "json"])
    rows = json.loads(out)
    pp = next(r for r in rows if r["n_prompt"] == a.prompt_len and r["n_gen"] == 0)
    tg = next(r for r in rows if r["n_gen"] == a.new_tokens and r["n_prompt"] == 0)
    note = (f"llama-bench, {a.reps} reps; Q4_1 GGUF (not f32); tg timed from an empty context; "
            f"{SOURCE}")
    return pp["avg_ts"], tg["avg_ts"], note


def batched(a):
    n_kv = a.batch * (a.prompt_len + a.new_tokens)
    out = run([os.path.join(a.bin_dir, "llama-batched-bench"), "-m", a.gguf, "-t", str(a.threads),
               "-c", str(n_kv), "-b", str(max(2048, a.batch * a.prompt_len)), "-ub", "512",
               "-npp", str(a.prompt_len), "-ntg", str(a.new_tokens), "-npl", str(a.batch),
               "--output-format", "jsonl"])
    rows = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    r = next(r for r in rows if r.get("pl") == a.batch)
    note = ("llama-batched-bench (one run); Q4_1 GGUF (not f32); decode after the prompt, all sequences; "
            f"{SOURCE}")
    return r["speed_pp"], r["speed_tg"], note


def main():
    a = parse_args()
    if not os.path.isfile(a.gguf):
        sys.exit(f"llama.cpp: no {a.gguf}: run scripts/bench/setup-peers.sh llama")
    prefill, decode, note = batch1(a) if a.batch == 1 else batched(a)
    result = {
        "peer": "llama.cpp",
        "batch": a.batch,
        "prompt_len": a.prompt_len,
        "new_tokens": a.new_tokens,
        "prefill_tokens_per_s": prefill,
        "decode_tokens_per_s": decode,
        # the largest of the children's peaks (ru_maxrss is KiB on Linux)
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "threads": a.threads,
        "quantization": "Q4_1",
        "note": note,
    }
    text = json.dumps(result)
    print(text)
    if a.json:
        with open(a.json, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
