#!/usr/bin/env bash
# Peak memory of one LoRA training step (r 16 on q/k/v/o, AdamW) for each storage format, with and
# without activation checkpointing, next to the memory plan's estimate: the table in
# docs/precision.md. Usage: FINEFAIL=path/to/finefail bash scripts/bench/memory.sh MODEL_DIR BATCH SEQ [STEPS]
# (the ~1B row uses a random checkpoint from scripts/bench/make_random_llama.py).
set -euo pipefail
bin="${FINEFAIL:-target/release/finefail}"
model="$1"; batch="$2"; seq="$3"; steps="${4:-2}"
out="${OUT_DIR:-/tmp/finefail-memory}"; mkdir -p "$out"
for prec in "f32 none" "bf16 none" "f32 int8" "f32 nf4"; do
  set -- $prec
  for ck in "" "--checkpointing"; do
    tag="$(basename "$model")-${batch}x${seq}-$1-$2${ck:+-ck}"
    "$bin" bench train --model "$model" --batch "$batch" --micro-batch "$batch" --seq "$seq" \
      --steps "$steps" --dtype "$1" --quantize "$2" $ck --json "$out/$tag.json" 2>/dev/null | tail -1
  done
done
