#!/usr/bin/env bash
# `make bench`: runs our benchmarks and the peers' side by side, one after the other in the
# same run, then writes the table into docs/performance.md (scripts/bench/write_report.py).
#
# Environment: FINEFAIL      = our binary (a command, words allowed; default target/release/finefail)
#              MODEL         = HF-layout model dir (default checkpoints/smollm2-135m-instruct)
#              FINEFAIL_PEERS = where setup-peers.sh put the peers (default ~/.cache/finefail/peers)
#              BENCH_RESULTS = folder for the JSON results (default target/bench/<UTC time>)
#              BENCH_REPORT  = the markdown to update (default docs/performance.md)
#              BENCH_ONLY    = space-separated subset of: ours peft candle llama (default all)
# A peer that is not installed gets a visible "not installed" row: nothing is ever made up. Peers
# never run in CI. Runs are sequential so that they don't compete for the 2 cores.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
read -r -a finefail <<< "${FINEFAIL:-target/release/finefail}"
model="${MODEL:-checkpoints/smollm2-135m-instruct}"
peers="${FINEFAIL_PEERS:-$HOME/.cache/finefail/peers}"
results="${BENCH_RESULTS:-target/bench/$(date -u +%Y%m%dT%H%M%SZ)}"
report="${BENCH_REPORT:-docs/performance.md}"
only=" ${BENCH_ONLY:-ours peft candle llama} "
threads=2
mkdir -p "$results"

say() { echo "bench: $*" >&2; }
# Machine and load at the start: the numbers are only comparable with this context.
python3 - "$results/meta.json" "${finefail[*]}" "$model" <<'PY'
import datetime, json, os, sys
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
meta = {
    "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    "nproc": os.cpu_count(),
    "cpu": cpu,
    "loadavg_start": open("/proc/loadavg").read().split()[:3],
    "finefail": sys.argv[2],
    "model": sys.argv[3],
}
json.dump(meta, open(sys.argv[1], "w"), indent=1)
PY

# Busy machine: spinning worker threads (OpenMP in torch and llama.cpp, rayon in candle) lose much
# more than their share when other processes want the same 2 cores. Say so; the report shows the load.
if python3 -c "import os,sys; sys.exit(os.getloadavg()[0] < 0.5 * os.cpu_count())"; then
    say "warning: load average $(cut -d' ' -f1 /proc/loadavg) on $(nproc) cores at the start:" \
        "numbers will be low and noisy"
fi

# skip NAME WHY: record that NAME did not run and why (the report shows it)
skip() { say "$1: $2"; echo "$2" > "$results/$1.skip"; }

# bench NAME CMD...: run one benchmark whose JSON goes to $results/NAME.json; its log to NAME.log
bench() {
    local name="$1"
    shift
    say "$name: $*"
    if "$@" > "$results/$name.log" 2>&1 && [[ -s "$results/$name.json" ]]; then
        say "$name: $(tail -c 400 "$results/$name.json")"
    else
        rm -f "$results/$name.json"
        skip "$name" "failed (exit or no JSON): $(tail -n 3 "$results/$name.log" | tr '\n' ' ' | cut -c1-300)"
    fi
}

# wants GROUP RUN...: true when BENCH_ONLY includes GROUP; otherwise records its runs as excluded
wants() {
    local group="$1" n
    shift
    [[ "$only" == *" $group "* ]] && return 0
    for n in "$@"; do echo "not run: excluded by BENCH_ONLY" > "$results/$n.skip"; done
    return 1
}

# ---- ours ---------------------------------------------------------------------------------------
if wants ours ours_train ours_gen_b1 ours_gen_b8; then
    if ! command -v "${finefail[0]}" >/dev/null 2>&1; then
        for n in ours_train ours_gen_b1 ours_gen_b8; do
            skip "$n" "not available: no finefail binary at '${finefail[0]}' (set FINEFAIL=path)"
        done
    elif ! "${finefail[@]}" bench --help >/dev/null 2>&1; then
        for n in ours_train ours_gen_b1 ours_gen_b8; do
            skip "$n" "not available: '${finefail[*]} bench' does not exist yet in this build"
        done
    else
        bench ours_train "${finefail[@]}" bench train --model "$model" --batch 8 --seq 512 --steps 4 \
            --micro-batch 2 --json "$results/ours_train.json"
        bench ours_gen_b1 "${finefail[@]}" bench generate --model "$model" --batch 1 --prompt-len 512 \
            --new-tokens 64 --json "$results/ours_gen_b1.json"
        bench ours_gen_b8 "${finefail[@]}" bench generate --model "$model" --batch 8 --prompt-len 128 \
            --new-tokens 64 --json "$results/ours_gen_b8.json"
    fi
fi

# ---- PyTorch + PEFT -----------------------------------------------------------------------------
if wants peft peft_train; then
    py="$peers/venv/bin/python"
    if [[ -x "$py" ]] && "$py" -c "import torch, transformers, peft" 2>/dev/null; then
        # Same shape and micro-batch as ours, so tok/s and peak RSS compare like for like.
        bench peft_train "$py" scripts/bench/peft_train.py --model "$model" --batch 8 --seq 512 \
            --steps 4 --micro-batch 2 --threads "$threads" --json "$results/peft_train.json"
    else
        skip peft_train "not installed: run scripts/bench/setup-peers.sh"
    fi
fi

# ---- candle -------------------------------------------------------------------------------------
if wants candle candle_gen_b1 candle_gen_b8; then
    cb="$peers/candle-target/release/candle-bench"
    if [[ -x "$cb" ]]; then
        export RAYON_NUM_THREADS="$threads"  # candle's CPU matmul uses rayon's pool size
        bench candle_gen_b1 "$cb" --model "$model" --batch 1 --prompt-len 512 --new-tokens 64 \
            --json "$results/candle_gen_b1.json"
        bench candle_gen_b8 "$cb" --model "$model" --batch 8 --prompt-len 128 --new-tokens 64 \
            --json "$results/candle_gen_b8.json"
    else
        skip candle_gen_b1 "not installed: run scripts/bench/setup-peers.sh"
        skip candle_gen_b8 "not installed: run scripts/bench/setup-peers.sh"
    fi
fi

# ---- llama.cpp ----------------------------------------------------------------------------------
if wants llama llama_gen_b1 llama_gen_b8; then
    bin="$peers/llama.cpp/build/bin"
    if [[ -x "$bin/llama-bench" && -x "$bin/llama-batched-bench" \
          && -f "$peers/gguf/SmolLM2-135M-Instruct.Q4_1.gguf" ]]; then
        bench llama_gen_b1 python3 scripts/bench/llama_cpp_peer.py --batch 1 --prompt-len 512 \
            --new-tokens 64 --threads "$threads" --json "$results/llama_gen_b1.json"
        bench llama_gen_b8 python3 scripts/bench/llama_cpp_peer.py --batch 8 --prompt-len 128 \
            --new-tokens 64 --threads "$threads" --json "$results/llama_gen_b8.json"
    else
        skip llama_gen_b1 "not installed: run scripts/bench/setup-peers.sh"
        skip llama_gen_b8 "not installed: run scripts/bench/setup-peers.sh"
    fi
fi

python3 scripts/bench/write_report.py "$results" "$report"
say "results in $results; report in $report"
