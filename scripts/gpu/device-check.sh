#!/usr/bin/env bash
# The GPU check: finefail on LibTorch (`tch-cuda:0`) beside transformers + PEFT on the same card.
# Made to run once on a lent GPU machine (no network, no Rust; python3 with torch, transformers and
# peft) inside one device call, and rehearsed here on `tch-cpu` with tiny shapes (`make gpu-rehearsal`).
# docs/gpu-check.md says how to build what it needs (`make gpu-pack`) and how to read its output.
#
# Environment:
#   FINEFAIL   finefail built with --features tch against the machine's torch (default .gpu/finefail,
#              or .gpu/finefail.gz, unpacked into $WORK/bin)
#   TOKENIZER  SmolLM2's tokenizer.json, for the random checkpoints' vocabulary (.gpu/tokenizer.json[.gz])
#   PYTHON     a python3 with torch + transformers + peft (default python3)
#   SCALE      full (Llama-2-7B shape, 8 × 512; the GPU) or tiny (CPU rehearsal); default: full on a
#              GPU, tiny otherwise
#   DEVICE     finefail's device (default tch-cuda:0 when nvidia-smi sees a GPU, else tch-cpu)
#   MICRO_BATCH sequences per forward/backward for both trainers (default 4 at full scale)
#   OUT        where results.json, summary.md and device-check.log go (default target/gpu-check/TIME)
#   WORK       scratch for checkpoints and per-step files (default /tmp/finefail-gpu-check)
#   SKIP       space-separated sections to leave out (env llama logits train generate mixtral nf4
#              checkpointing)
#   BUDGET_S   seconds the whole check may take (default 480): a section never runs past it, and
#              those left when it is spent are recorded as skipped, so the summary is always written
# Each section runs under its own time limit and records ok / failed / timed out; a failing section
# never stops the next, and the summary is written whatever happened.
set -uo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
FINEFAIL="${FINEFAIL:-.gpu/finefail}"
TOKENIZER="${TOKENIZER:-.gpu/tokenizer.json}"
PYTHON="${PYTHON:-python3}"
WORK="${WORK:-/tmp/finefail-gpu-check}"
OUT="${OUT:-target/gpu-check/$(date -u +%Y%m%dT%H%M%SZ)}"
SKIP=" ${SKIP:-} "
BUDGET_S="${BUDGET_S:-480}"
gpu=0
if nvidia-smi -L > /dev/null 2>&1; then gpu=1; fi
DEVICE="${DEVICE:-$([[ $gpu == 1 ]] && echo tch-cuda:0 || echo tch-cpu)}"
SCALE="${SCALE:-$([[ $gpu == 1 ]] && echo full || echo tiny)}"
torch_device=$([[ $DEVICE == tch-cuda:* ]] && echo "cuda:${DEVICE#tch-cuda:}" || echo cpu)

# unpack PATH: PATH itself, else PATH.gz (what `make gpu-pack` writes, to travel small) unpacked
# into $WORK/bin; prints the path to use.
unpack() {
    local out="$WORK/bin/$(basename "$1")"
    if [[ -e $1 ]]; then
        echo "$1"
    elif [[ -e $1.gz ]]; then
        mkdir -p "$WORK/bin" && gzip -dc "$1.gz" > "$out" && chmod +x "$out" && echo "$out"
    else
        echo "device-check: neither $1 nor $1.gz exists: run \`make gpu-pack\` first" >&2
        return 2
    fi
}
FINEFAIL=$(unpack "$FINEFAIL") || exit 2
TOKENIZER=$(unpack "$TOKENIZER") || exit 2
# bitsandbytes, when `make gpu-pack` could fetch it (the PEFT side of the NF4 comparison).
if [[ -f .gpu/bitsandbytes.tar.gz ]] && ! "$PYTHON" -c 'import bitsandbytes' > /dev/null 2>&1; then
    mkdir -p "$WORK/site" && tar -C "$WORK/site" -xzf .gpu/bitsandbytes.tar.gz \
        && export PYTHONPATH="$WORK/site${PYTHONPATH:+:$PYTHONPATH}"
fi
torch_lib=$("$PYTHON" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))') \
    || { echo "device-check: $PYTHON has no torch" >&2; exit 2; }
export LD_LIBRARY_PATH="$torch_lib:${LD_LIBRARY_PATH:-}"
export FINEFAIL_PROGRESS_INTERVAL_MS=30000 PYTHONUNBUFFERED=1

if [[ $SCALE == full ]]; then
    llama=llama-7b mixtral=mixtral-small batch=8 seq=512 steps=4 mb="${MICRO_BATCH:-4}"
    gen1=(--batch 1 --prompt-len 512 --new-tokens 64) gen8=(--batch 8 --prompt-len 128 --new-tokens 64)
    text="In the spring of 1887 the survey ship left Plymouth for the southern ocean, carrying two naturalists, a photographer and a crate of instruments that nobody aboard knew how to use. What did the naturalists find when they reached the islands?"
    limit_ckpt=150 limit_logits=150 limit_train=150 limit_gen=120
else
    llama=tiny-llama mixtral=tiny-mixtral batch=2 seq=32 steps=2 mb="${MICRO_BATCH:-1}"
    gen1=(--batch 1 --prompt-len 16 --new-tokens 4) gen8=(--batch 8 --prompt-len 8 --new-tokens 4)
    text="What did the naturalists find when they reached the islands?"
    limit_ckpt=120 limit_logits=120 limit_train=300 limit_gen=120
fi

rm -rf "$WORK/steps"
mkdir -p "$OUT" "$WORK/steps"
log="$OUT/device-check.log"
: > "$log"
say() { echo "device-check: $*" | tee -a "$log" >&2; }
status() { echo "$2 $3" > "$WORK/steps/$1.status"; }

# section NAME LIMIT_S CMD...: runs CMD with a time limit, its output into the log, and records
# "ok|failed|timed-out SECONDS" for the summary.
section() {
    local name="$1" limit="$2"
    shift 2
    if [[ $SKIP == *" $name "* ]]; then
        say "$name: skipped (SKIP)"
        status "$name" skipped 0
        return 0
    fi
    local left=$((BUDGET_S - SECONDS))
    if ((left < 10)); then
        say "$name: skipped (the ${BUDGET_S} s budget is spent)"
        status "$name" skipped-budget 0
        return 0
    fi
    ((limit > left)) && limit=$left
    say "$name: $* (limit ${limit} s)"
    local t0=$SECONDS rc
    timeout --kill-after=10 "$limit" "$@" >> "$log" 2>&1
    rc=$?
    local took=$((SECONDS - t0)) what=ok
    if [[ $rc == 124 || $rc == 137 ]]; then what=timed-out; elif [[ $rc != 0 ]]; then what=failed; fi
    say "$name: $what after ${took} s (exit $rc)"
    status "$name" "$what" "$took"
    return 0
}

# measure NAME: the command prefix that runs the rest under scripts/gpu/gpu_memory.py (a command,
# not a function, so `timeout` can run it).
measure() { echo "$PYTHON" scripts/gpu/gpu_memory.py --json "$WORK/steps/$1.gpu.json" --; }

section env 60 bash -c "nvidia-smi || true; \"$PYTHON\" -c 'import torch, transformers, peft; print(\"torch\", torch.__version__, \"cuda\", torch.version.cuda, torch.cuda.is_available(), \"transformers\", transformers.__version__, \"peft\", peft.__version__)'; \"$FINEFAIL\" --version; echo device $DEVICE scale $SCALE micro-batch $mb"

# 1. Checkpoints and logits against transformers.
ckpt_section() {
    local shape="$1" dir="$WORK/$1"
    if [[ -f $dir/config.json ]]; then say "$shape: reusing $dir"; status "ckpt-$shape" ok 0; return; fi
    section "ckpt-$shape" "$limit_ckpt" "$PYTHON" scripts/gpu/make_checkpoint.py "$dir" --shape "$shape" \
        --tokenizer "$TOKENIZER" --device "$torch_device"
}
logits_section() {
    local shape="$1" dir="$WORK/$1"
    section "logits-$shape" "$limit_logits" bash -c "set -e; for c in f32 bf16; do \"$FINEFAIL\" model logits \
        --model \"$dir\" --text \"$text\" --out \"$WORK/$shape.\$c.npy\" --device $DEVICE --dtype bf16 \
        --compute-dtype \$c > \"$WORK/$shape.ids\"; done; \
        \"$PYTHON\" scripts/gpu/compare_logits.py --model \"$dir\" --logits \"$WORK/$shape.f32.npy\" \
        --logits-16 \"$WORK/$shape.bf16.npy\" --ids \"$WORK/$shape.ids\" --device $torch_device \
        --json \"$WORK/steps/logits-$shape.json\""
}
[[ $SKIP == *" llama "* ]] || ckpt_section "$llama"
[[ $SKIP == *" logits "* ]] || logits_section "$llama"

# 2. Training, bf16 base: finefail beside PEFT, same model, shapes, LoRA (r 16 on q/k/v/o) and AdamW.
train_pair() { # NAME FINEFAIL_FLAGS -- PEFT_FLAGS
    local name="$1" ours=() peer=()
    shift
    while [[ $# -gt 0 && $1 != -- ]]; do ours+=("$1"); shift; done
    [[ ${1:-} == -- ]] && shift
    peer=("$@")
    section "train-$name-finefail" "$limit_train" $(measure "train-$name-finefail") "$FINEFAIL" bench train \
        --model "$WORK/$llama" --device "$DEVICE" --batch $batch --seq $seq --micro-batch $mb \
        --steps $steps "${ours[@]}" --json "$WORK/steps/train-$name-finefail.json"
    if [[ ${peer[0]:-} == none ]]; then
        status "train-$name-peft" "not-run" 0
        echo "${peer[*]:1}" > "$WORK/steps/train-$name-peft.why"
        return
    fi
    section "train-$name-peft" "$limit_train" $(measure "train-$name-peft") "$PYTHON" scripts/bench/peft_train.py \
        --model "$WORK/$llama" --device "$torch_device" --batch $batch --seq $seq --micro-batch $mb \
        --steps $steps --threads "$(nproc)" "${peer[@]}" --json "$WORK/steps/train-$name-peft.json"
}
# `--compute-dtype bf16` is what `auto` gives on a GPU; named so the CPU rehearsal runs the same path.
[[ $SKIP == *" train "* ]] || train_pair bf16 --dtype bf16 --compute-dtype bf16 -- --dtype bf16

# 3. Generation, bf16 base, batch 1 and 8.
if [[ $SKIP != *" generate "* ]]; then
    section generate-b1 "$limit_gen" $(measure generate-b1) "$FINEFAIL" bench generate --model "$WORK/$llama" \
        --device "$DEVICE" --dtype bf16 --compute-dtype bf16 "${gen1[@]}" --json "$WORK/steps/generate-b1.json"
    section generate-b8 "$limit_gen" $(measure generate-b8) "$FINEFAIL" bench generate --model "$WORK/$llama" \
        --device "$DEVICE" --dtype bf16 --compute-dtype bf16 "${gen8[@]}" --json "$WORK/steps/generate-b8.json"
fi

# 4. The MoE path: a Mixtral-shaped checkpoint's logits.
if [[ $SKIP != *" mixtral "* ]]; then
    ckpt_section "$mixtral"
    logits_section "$mixtral"
fi

# 5. Quantized base (NF4): against PEFT + bitsandbytes (QLoRA: NF4, bf16 compute, no double
# quantization, as finefail's), where bitsandbytes imports (`make gpu-pack` packs it).
if [[ $SKIP != *" nf4 "* ]]; then
    if "$PYTHON" -c 'import bitsandbytes' > /dev/null 2>&1; then
        train_pair nf4 --dtype bf16 --quantize nf4 --compute-dtype bf16 -- --dtype bf16 --quantize nf4
    else
        train_pair nf4 --dtype bf16 --quantize nf4 --compute-dtype bf16 -- none "bitsandbytes does not import here"
    fi
fi

# 6. Gradient checkpointing on both sides (memory at equal settings).
[[ $SKIP == *" checkpointing "* ]] || train_pair ckpt --dtype bf16 --compute-dtype bf16 --checkpointing -- --dtype bf16 --checkpointing

"$PYTHON" scripts/gpu/summarize.py --work "$WORK" --out "$OUT" --device "$DEVICE" --scale "$SCALE" \
    --shape "$llama" --batch $batch --seq $seq --micro-batch $mb 2>&1 | tee -a "$log"
