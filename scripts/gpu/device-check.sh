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
#   BNB_TARBALL the packed bitsandbytes (default .gpu/bitsandbytes.tar.gz; a test can name a broken one)
#   SCALE      full (Llama-2-7B shape, 8 × 512; the GPU) or tiny (CPU rehearsal); default: full on a
#              GPU, tiny otherwise
#   DEVICE     finefail's device (default tch-cuda:0 when nvidia-smi sees a GPU, else tch-cpu)
#   MICRO_BATCH sequences per forward/backward for both trainers (default 4 at full scale)
#   OUT        where results.json, summary.md and device-check.log go (default target/gpu-check/TIME);
#              created first, so that every exit leaves a summary there
#   WORK       scratch for checkpoints and per-step files, inside the tree (default target/gpu-work,
#              not /tmp: the 7B checkpoint is 13.5 GB); complete checkpoints there are reused by a rerun
#   SKIP       space-separated sections to leave out (env llama logits train generate mixtral nf4
#              checkpointing)
#   BUDGET_S   seconds the whole check may take (default 480 at full scale, 900 tiny; the device call's
#              timeout_s must be ≥ BUDGET_S + 60). Each section has a planned time and a limit: one whose
#              planned time no longer fits in what is left is not started and is recorded as
#              "skipped: time"; one that runs is stopped at min(limit, what is left).
# Each section records ok / failed / timed-out / skipped (why); a failing section never stops the
# next. summary.md and results.json are rewritten after every section (marked PARTIAL until the end)
# and once more on any exit (a trap: an error, SIGTERM/SIGINT/SIGHUP), so a run stopped anywhere,
# even by SIGKILL, leaves a summary that says what ran.
set -uo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root" || exit 2

# --- $OUT and the log, before anything that can fail --------------------------------------------
OUT="${OUT:-target/gpu-check/$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$OUT" || { echo "device-check: cannot create OUT=$OUT" >&2; exit 2; }
log="$OUT/device-check.log"
: > "$log"
say() { echo "device-check: $*" | tee -a "$log" >&2; }

FINEFAIL="${FINEFAIL:-.gpu/finefail}"
TOKENIZER="${TOKENIZER:-.gpu/tokenizer.json}"
BNB_TARBALL="${BNB_TARBALL:-.gpu/bitsandbytes.tar.gz}" # the packed bitsandbytes (make gpu-pack)
PYTHON="${PYTHON:-python3}"
WORK="${WORK:-$root/target/gpu-work}"
SKIP=" ${SKIP:-} "
steps="$WORK/steps"
gpu=0
if timeout 30 nvidia-smi -L > /dev/null 2>&1; then gpu=1; fi
DEVICE="${DEVICE:-$([[ $gpu == 1 ]] && echo tch-cuda:0 || echo tch-cpu)}"
SCALE="${SCALE:-$([[ $gpu == 1 ]] && echo full || echo tiny)}"
torch_device=$([[ $DEVICE == tch-cuda:* ]] && echo "cuda:${DEVICE#tch-cuda:}" || echo cpu)
# Both sides' CUDA caching allocators (LibTorch under finefail reads the same variables as PyTorch;
# torch ≥ 2.9 prefers PYTORCH_ALLOC_CONF, and still reads the old name).
export PYTORCH_CUDA_ALLOC_CONF="${PYTORCH_CUDA_ALLOC_CONF:-expandable_segments:True}"
export PYTORCH_ALLOC_CONF="${PYTORCH_ALLOC_CONF:-$PYTORCH_CUDA_ALLOC_CONF}"
export FINEFAIL_PROGRESS_INTERVAL_MS=30000 PYTHONUNBUFFERED=1

if [[ $SCALE == full ]]; then
    llama=llama-7b mixtral=mixtral-small batch=8 seq=512 steps_n=4 mb="${MICRO_BATCH:-4}"
    gen1=(--batch 1 --prompt-len 512 --new-tokens 64) gen8=(--batch 8 --prompt-len 128 --new-tokens 64)
    text="In the spring of 1887 the survey ship left Plymouth for the southern ocean, carrying two naturalists, a photographer and a crate of instruments that nobody aboard knew how to use. What did the naturalists find when they reached the islands?"
    BUDGET_S="${BUDGET_S:-480}" reserve=15
else
    llama=tiny-llama mixtral=tiny-mixtral batch=2 seq=32 steps_n=2 mb="${MICRO_BATCH:-1}"
    gen1=(--batch 1 --prompt-len 16 --new-tokens 4) gen8=(--batch 8 --prompt-len 8 --new-tokens 4)
    text="What did the naturalists find when they reached the islands?"
    BUDGET_S="${BUDGET_S:-900}" reserve=10
fi

# --- The plan: every section in the order it runs, its planned seconds and its limit -------------
# Planned = what it should take (full: estimates for an H100 from the shapes, load of 13.5 GB from the
# page cache, import of torch + transformers; tiny: measured on a 2-core CPU). A section starts only
# when its planned time (a pair: both planned times) fits in what is left of BUDGET_S less a reserve
# for the summary. The planned times add up to less than the budget.
if [[ $SCALE == full ]]; then
    plan_rows="env 10 60
ckpt-$llama 45 180
logits-$llama 50 150
train-bf16-finefail 40 150
train-bf16-peft 30 150
generate-b1 25 120
generate-b8 25 120
ckpt-$mixtral 15 90
logits-$mixtral 25 90
bnb 10 60
train-nf4-finefail 50 150
train-nf4-peft 35 150
train-checkpointing-finefail 40 150
train-checkpointing-peft 30 150"
else
    plan_rows="env 10 60
ckpt-$llama 15 120
logits-$llama 20 120
train-bf16-finefail 25 300
train-bf16-peft 20 300
generate-b1 15 120
generate-b8 15 120
ckpt-$mixtral 15 120
logits-$mixtral 20 120
bnb 15 60
train-nf4-finefail 25 300
train-nf4-peft 25 300
train-checkpointing-finefail 25 300
train-checkpointing-peft 20 300"
fi
declare -A PLAN LIMIT
order=()
while read -r name p l; do PLAN[$name]=$p; LIMIT[$name]=$l; order+=("$name"); done <<< "$plan_rows"

# --- Results, the summary, and the trap that writes it on every exit -----------------------------
current="" current_pid="" current_t0=0 finished=0 why_stopped="" summarizer_ok=1

# record NAME STATUS SECONDS [WHY...]: one line per section in $steps/NAME.status
record() {
    local name="$1" what="$2" secs="$3"
    shift 3
    echo "$what $secs ${PLAN[$name]:-0} ${LIMIT[$name]:-0} $*" > "$steps/$name.status" 2> /dev/null
}

# The summary from the shell alone, when summarize.py cannot run (no python3, a broken one).
shell_summary() {
    local state="$1" name line
    {
        echo "# GPU check ($state)"
        echo
        echo "Written by device-check.sh itself: summarize.py did not run (see device-check.log)."
        echo
        echo "| section | status | seconds | planned | limit | note |"
        echo "|---|---|---:|---:|---:|---|"
        for name in "${order[@]}"; do
            if line=$(cat "$steps/$name.status" 2> /dev/null); then
                read -r what secs p l note <<< "$line"
                echo "| $name | $what | $secs | $p | $l | ${note:-} |"
            else
                echo "| $name | not reached | | ${PLAN[$name]} | ${LIMIT[$name]} | |"
            fi
        done
    } > "$OUT/summary.md"
}

# write_summary STATE NOTE [print]: summary.md and results.json from what $steps holds.
write_summary() {
    local state="$1" note="$2" print="${3:-}"
    if [[ -d $steps ]] && python_for_summary=$(command -v "$PYTHON" || command -v python3) \
        && "$python_for_summary" scripts/gpu/summarize.py --work "$WORK" --out "$OUT" --device "$DEVICE" \
            --scale "$SCALE" --shape "$llama" --batch "$batch" --seq "$seq" --micro-batch "$mb" \
            --state "$state" --note "$note" --budget "$BUDGET_S" --elapsed "$SECONDS" \
            > "$steps/summary.stdout" 2>> "$log"; then
        [[ -n $print ]] && tee -a "$log" < "$steps/summary.stdout"
    else
        ((summarizer_ok)) && say "summarize.py failed: writing the summary from the shell"
        summarizer_ok=0
        shell_summary "$state: $note"
        [[ -n $print ]] && tee -a "$log" < "$OUT/summary.md"
    fi
    return 0
}

on_exit() {
    local rc=$?
    trap - EXIT INT TERM HUP
    if [[ -n $current_pid ]]; then
        # Stop the section in flight (timeout passes the signal on to its process group).
        kill -TERM "$current_pid" 2> /dev/null
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$current_pid" 2> /dev/null || break; sleep 0.5; done
        kill -KILL -- "-$current_pid" 2> /dev/null
        record "$current" interrupted $((SECONDS - current_t0)) "${why_stopped:-exit $rc}"
        say "$current: interrupted after $((SECONDS - current_t0)) s (${why_stopped:-exit $rc})"
    fi
    if ((finished)); then
        write_summary complete "all sections were reached" print
    else
        say "stopped early (${why_stopped:-exit $rc}) after ${SECONDS} s: the summary is PARTIAL"
        write_summary partial "stopped early: ${why_stopped:-exit $rc} after ${SECONDS} s${current:+, during $current}" print
    fi
    exit "$rc"
}
trap on_exit EXIT
trap 'why_stopped="SIGTERM"; exit 143' TERM
trap 'why_stopped="SIGINT"; exit 130' INT
trap 'why_stopped="SIGHUP"; exit 129' HUP

fatal() { why_stopped="$*"; say "$*"; exit 2; }

rm -rf "$steps"
mkdir -p "$steps" "$WORK/bin" || fatal "cannot create WORK=$WORK"
printf '%s\n' "${order[@]}" > "$steps/order"

# --- What the check runs with ---------------------------------------------------------------------
# unpack PATH: PATH itself, else PATH.gz (what `make gpu-pack` writes, to travel small) unpacked
# into $WORK/bin (inside the tree); prints the path to use.
unpack() {
    local out
    out="$WORK/bin/$(basename "$1")"
    if [[ -e $1 ]]; then
        echo "$1"
    elif [[ -e $1.gz ]]; then
        rm -f "$out" && gzip -dc "$1.gz" > "$out.part" && chmod +x "$out.part" && mv "$out.part" "$out" && echo "$out"
    else
        echo "device-check: neither $1 nor $1.gz exists: run \`make gpu-pack\` first" >&2
        return 2
    fi
}
FINEFAIL=$(unpack "$FINEFAIL" 2>> "$log") || fatal "no finefail binary (.gpu/finefail[.gz]): run make gpu-pack"
TOKENIZER=$(unpack "$TOKENIZER" 2>> "$log") || fatal "no tokenizer (.gpu/tokenizer.json[.gz]): run make gpu-pack"
torch_info=$(timeout 120 "$PYTHON" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib")); print(torch.__version__, torch.version.cuda, torch.cuda.is_available())' 2>> "$log") \
    || fatal "$PYTHON has no torch"
torch_lib=$(sed -n 1p <<< "$torch_info")
read -r torch_version torch_cuda torch_gpu <<< "$(sed -n 2p <<< "$torch_info")"
export LD_LIBRARY_PATH="$torch_lib:${LD_LIBRARY_PATH:-}"
packed_torch=$(sed -n 's/^torch //p' .gpu/manifest.txt 2> /dev/null | head -1)

{
    echo "device $DEVICE"
    echo "scale $SCALE"
    echo "gpu $( ((gpu)) && timeout 20 nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader -i 0 2> /dev/null | head -1 || echo none)"
    echo "torch $torch_version (CUDA $torch_cuda, GPU visible: $torch_gpu) at $torch_lib"
    echo "packed-against ${packed_torch:-unknown (.gpu/manifest.txt missing)}"
    echo "allocator PYTORCH_CUDA_ALLOC_CONF=$PYTORCH_CUDA_ALLOC_CONF PYTORCH_ALLOC_CONF=$PYTORCH_ALLOC_CONF"
    echo "work $WORK: $(df -h --output=avail,fstype "$WORK" 2> /dev/null | tail -1 | xargs) free"
} > "$steps/facts"
packed_base=${packed_torch%% *}
if [[ -n $packed_torch && ${packed_base%%+*} != "${torch_version%%+*}" ]]; then
    say "WARNING: finefail was built against torch $packed_base, this machine has $torch_version"
    echo "warning finefail built against torch $packed_base, run against $torch_version" >> "$steps/facts"
fi
if [[ $torch_device != cpu && $torch_gpu != True ]]; then
    say "WARNING: DEVICE=$DEVICE but $PYTHON's torch sees no GPU: the Python sides will fail"
    echo "warning $PYTHON's torch sees no GPU" >> "$steps/facts"
fi

# The plan, printed: per section its planned seconds and limit, and whether the plan fits.
total=0
say "budget ${BUDGET_S} s (${reserve} s kept for the summary); the plan, in order (planned s / limit s):"
for name in "${order[@]}"; do
    total=$((total + PLAN[$name]))
    say "  $(printf '%-30s %4d / %4d   (planned end %4d s)' "$name" "${PLAN[$name]}" "${LIMIT[$name]}" "$total")"
done
if ((total + reserve > BUDGET_S)); then
    say "the planned times ($total s) exceed the budget: the last sections will be skipped (time)"
else
    say "the planned times add up to $total s of the ${BUDGET_S} s budget"
fi

skipping() { [[ $SKIP == *" $1 "* ]]; }
left() { echo $((BUDGET_S - reserve - SECONDS)); }

# fits NAME...: whether the planned times of NAMEs fit in what is left; if not, records each as
# "skipped: time" (a pair is started only when both halves fit).
plan_fits() { # NAME...: the same test, recording nothing
    local need=0 name
    for name in "$@"; do need=$((need + PLAN[$name])); done
    ((need <= $(left)))
}
fits() {
    local need=0 name left
    left=$(left)
    for name in "$@"; do need=$((need + PLAN[$name])); done
    ((need <= left)) && return 0
    for name in "$@"; do
        record "$name" skipped 0 "time: ${left} s left, ${need} s planned"
        say "$name: skipped: time (${left} s left, ${need} s planned)"
    done
    write_summary partial "running"
    return 1
}
skip_all() { # WHY NAME...
    local why="$1" name
    shift
    for name in "$@"; do record "$name" skipped 0 "$why"; say "$name: skipped: $why"; done
}

# section NAME [--measure] CMD...: runs CMD with min(its limit, what is left) as time limit, its
# output into the log; records "ok|failed|timed-out SECONDS"; returns 0 only when CMD succeeded.
# --measure runs CMD under scripts/gpu/gpu_memory.py (peak GPU memory from outside, both sides alike).
section() {
    local name="$1"
    shift
    if [[ $1 == --measure ]]; then
        shift
        set -- "$PYTHON" scripts/gpu/gpu_memory.py --json "$steps/$name.gpu.json" -- "$@"
    fi
    fits "$name" || return 1
    local left limit="${LIMIT[$name]}" rc what
    left=$(left)
    ((limit > left)) && limit=$left
    local shown=("$@")
    [[ $1 == bash && $2 == -c ]] && shown=("${@:4}") # bash -c "$(declare -f fn) …" fn ARGS: ARGS
    say "$name: (planned ${PLAN[$name]} s, limit ${limit} s, ${left} s left) ${shown[*]:-a shell function}"
    current=$name current_t0=$SECONDS
    # What a run killed outright (SIGKILL: no trap) leaves: this section marked as the one in flight.
    record "$name" running 0 "started at ${SECONDS} s; the run stopped before it ended"
    write_summary partial "running $name"
    # In the background + wait: a signal to this script is handled at once, not after the section.
    timeout --kill-after=10 "$limit" "$@" >> "$log" 2>&1 < /dev/null &
    current_pid=$!
    wait "$current_pid"
    rc=$?
    current_pid=""
    local took=$((SECONDS - current_t0))
    what=ok
    if [[ $rc == 124 || $rc == 137 ]]; then what=timed-out; elif [[ $rc != 0 ]]; then what=failed; fi
    record "$name" "$what" "$took" "exit $rc"
    current=""
    say "$name: $what after ${took} s (exit $rc)"
    write_summary partial "running"
    [[ $what == ok ]]
}

# --- env -----------------------------------------------------------------------------------------
env_report() {
    echo "== nvidia-smi"; timeout 20 nvidia-smi || echo "(no nvidia-smi / no GPU)"
    echo "== python"; "$PYTHON" -c 'import torch, transformers, peft; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.is_available(), "transformers", transformers.__version__, "peft", peft.__version__)'
    local rc=$?
    echo "== finefail"; "$FINEFAIL" --version || rc=1
    echo "== finefail's libraries (ldd)"; ldd "$FINEFAIL" | grep -E 'torch|c10|not found' || true
    echo "== .gpu/manifest.txt (what make gpu-pack built)"; cat .gpu/manifest.txt 2> /dev/null || echo "(none)"
    echo "== work dir $WORK"; df -h "$WORK"; findmnt -T "$WORK" || true; free -g || true; nproc
    echo "== allocator: PYTORCH_CUDA_ALLOC_CONF=$PYTORCH_CUDA_ALLOC_CONF PYTORCH_ALLOC_CONF=$PYTORCH_ALLOC_CONF"
    echo "== device $DEVICE ($torch_device) scale $SCALE micro-batch $mb budget $BUDGET_S s"
    return "$rc"
}
if skipping env; then skip_all SKIP env; else
    section env bash -c "$(declare -f env_report); $(declare -p FINEFAIL PYTHON WORK DEVICE torch_device SCALE mb BUDGET_S); env_report"
fi

# --- 1. Checkpoints (with transformers' reference logits), and finefail's logits against them ----
# ckpt_section SHAPE: makes $WORK/SHAPE unless a complete one (complete.json, written last by
# make_checkpoint.py) of that shape is there; a folder without the marker is half-written: redone.
ckpt_section() {
    local shape="$1" dir="$WORK/$1" name="ckpt-$1"
    if [[ -f $dir/complete.json ]] && grep -q "\"shape\": \"$shape\"" "$dir/complete.json"; then
        say "$name: reusing the complete checkpoint $dir"
        record "$name" ok 0 "reused"
        write_summary partial "running"
        return 0
    fi
    [[ -e $dir ]] && say "$name: $dir has no complete.json (half-written): making it again"
    section "$name" "$PYTHON" scripts/gpu/make_checkpoint.py "$dir" --shape "$shape" \
        --tokenizer "$TOKENIZER" --device "$torch_device" --reference-text "$text"
}
# logits_run FINEFAIL PYTHON DIR TEXT DEVICE TORCH_DEVICE PREFIX JSON: finefail's logits with f32
# and bf16 compute from one load of the model (f32 written first, so a bf16 failure keeps it),
# compared with transformers' (compare_logits.py).
logits_run() {
    local finefail="$1" python="$2" dir="$3" text="$4" device="$5" torch_device="$6" prefix="$7" json="$8"
    local rc=0 extra=()
    rm -f "$prefix.f32.npy" "$prefix.bf16.npy"
    echo "logits: finefail model logits --compute-dtypes f32,bf16"
    "$finefail" model logits --model "$dir" --text "$text" --out "$prefix.{compute}.npy" --device "$device" \
        --dtype bf16 --compute-dtypes f32,bf16 > "$prefix.f32.ids" || { echo "logits: model logits failed"; rc=1; }
    [[ -f $prefix.f32.npy ]] || { echo "logits: no f32 logits to compare"; return 1; }
    [[ -f $prefix.bf16.npy ]] && extra=(--logits-16 "$prefix.bf16.npy")
    "$python" scripts/gpu/compare_logits.py --model "$dir" --logits "$prefix.f32.npy" "${extra[@]}" \
        --ids "$prefix.f32.ids" --reference "$dir/reference" --device "$torch_device" --json "$json" || rc=1
    return "$rc"
}
logits_section() {
    local shape="$1"
    section "logits-$shape" bash -c "$(declare -f logits_run); logits_run \"\$@\"" logits_run \
        "$FINEFAIL" "$PYTHON" "$WORK/$shape" "$text" "$DEVICE" "$torch_device" "$steps/logits-$shape" \
        "$steps/logits-$shape.json"
}

llama_ok=1
if skipping llama; then
    skip_all SKIP "ckpt-$llama"
    [[ -f $WORK/$llama/complete.json ]] || llama_ok=0
elif fits "ckpt-$llama"; then
    ckpt_section "$llama" || llama_ok=0
else
    llama_ok=0
fi
needs_llama() { # NAME...: 0 when the llama checkpoint is there, else records them as skipped
    ((llama_ok)) && return 0
    skip_all "no $llama checkpoint" "$@"
    return 1
}
if skipping logits; then skip_all SKIP "logits-$llama"
elif needs_llama "logits-$llama"; then logits_section "$llama"; fi

# --- 2. Training, bf16 base: finefail beside PEFT, same model, shapes, LoRA (r 16 on q/k/v/o), AdamW.
# train_pair NAME FINEFAIL_FLAGS -- [PYTHONPATH=...] PEFT_FLAGS
train_pair() {
    local name="$1" ours=() peer=() pypath=""
    shift
    while [[ $# -gt 0 && $1 != -- ]]; do ours+=("$1"); shift; done
    [[ ${1:-} == -- ]] && shift
    if [[ ${1:-} == PYTHONPATH=* ]]; then pypath="${1#PYTHONPATH=}"; shift; fi
    peer=("$@")
    local a="train-$name-finefail" b="train-$name-peft"
    needs_llama "$a" "$b" || return 0
    if [[ ${peer[0]:-} == none ]]; then
        fits "$a" || { skip_all "${peer[*]:1}" "$b"; return 0; }
    else
        fits "$a" "$b" || return 0
    fi
    section "$a" --measure "$FINEFAIL" bench train \
        --model "$WORK/$llama" --device "$DEVICE" --batch "$batch" --seq "$seq" --micro-batch "$mb" \
        --steps "$steps_n" "${ours[@]}" --json "$steps/$a.json"
    if [[ ${peer[0]:-} == none ]]; then
        record "$b" not-run 0 "${peer[*]:1}"
        say "$b: not run (${peer[*]:1})"
        return 0
    fi
    # PYTHONPATH (bitsandbytes) for this one command only: PEFT imports bitsandbytes whenever it is
    # findable, so a broken one on the path would take every other PEFT run down with it.
    section "$b" --measure env ${pypath:+PYTHONPATH="$pypath${PYTHONPATH:+:$PYTHONPATH}"} \
        "$PYTHON" scripts/bench/peft_train.py \
        --model "$WORK/$llama" --device "$torch_device" --batch "$batch" --seq "$seq" --micro-batch "$mb" \
        --steps "$steps_n" --threads "$(nproc)" "${peer[@]}" --json "$steps/$b.json"
}
# `--compute-dtype bf16` is what `auto` gives on a GPU; named so the CPU rehearsal runs the same path.
if skipping train; then skip_all SKIP train-bf16-finefail train-bf16-peft
else train_pair bf16 --dtype bf16 --compute-dtype bf16 -- --dtype bf16; fi

# --- 3. Generation, bf16 base, batch 1 and 8 (one finefail process each: `bench generate` takes one
# batch size).
if skipping generate; then skip_all SKIP generate-b1 generate-b8
elif needs_llama generate-b1 generate-b8; then
    section generate-b1 --measure "$FINEFAIL" bench generate --model "$WORK/$llama" \
        --device "$DEVICE" --dtype bf16 --compute-dtype bf16 "${gen1[@]}" --json "$steps/generate-b1.json"
    section generate-b8 --measure "$FINEFAIL" bench generate --model "$WORK/$llama" \
        --device "$DEVICE" --dtype bf16 --compute-dtype bf16 "${gen8[@]}" --json "$steps/generate-b8.json"
fi

# --- 4. The MoE path: a Mixtral-shaped checkpoint's logits (the pair only when both fit).
if skipping mixtral; then skip_all SKIP "ckpt-$mixtral" "logits-$mixtral"
elif fits "ckpt-$mixtral" "logits-$mixtral"; then
    if ckpt_section "$mixtral"; then logits_section "$mixtral"
    else skip_all "no $mixtral checkpoint" "logits-$mixtral"; fi
fi

# --- 5. Quantized base (NF4): against PEFT + bitsandbytes (QLoRA: NF4, bf16 compute, no double
# quantization, as finefail's). bitsandbytes: the one `make gpu-pack` packed, unpacked into
# $WORK/site, else the machine's own if it has one; either is checked once (scripts/gpu/bnb_check.py:
# import + an NF4 round trip on the device) and its path is given to the NF4 PEFT command alone.
if skipping nf4; then skip_all SKIP bnb train-nf4-finefail train-nf4-peft
elif needs_llama bnb train-nf4-finefail train-nf4-peft; then
    bnb_site="" bnb_ok=0 nf4_why="no working bitsandbytes (bnb section)"
    if [[ -f $BNB_TARBALL ]]; then # the packed one, first on PYTHONPATH (it shadows any other)
        bnb_site="$WORK/site"
        if ! { rm -rf "$bnb_site" && mkdir -p "$bnb_site" && tar -C "$bnb_site" -xzf "$BNB_TARBALL"; }; then
            say "bnb: could not unpack $BNB_TARBALL"
        fi
    fi
    if ! plan_fits bnb train-nf4-finefail train-nf4-peft; then
        # No time for the check and both runs: finefail's NF4 run alone, if that fits.
        record bnb skipped 0 "time: ${left_now:=$(left)} s left, too little for bnb + both NF4 runs"
        say "bnb: skipped: time (${left_now} s left, too little for bnb + both NF4 runs)"
        nf4_why="time (no room for bnb + both NF4 runs)"
    elif [[ -n $bnb_site ]] || timeout 30 "$PYTHON" -c 'import importlib.util as u, sys; sys.exit(u.find_spec("bitsandbytes") is None)' 2> /dev/null; then
        section bnb env ${bnb_site:+PYTHONPATH="$bnb_site${PYTHONPATH:+:$PYTHONPATH}"} \
            "$PYTHON" scripts/gpu/bnb_check.py "$torch_device" && bnb_ok=1
    else
        record bnb not-run 0 "no bitsandbytes here and none packed"
    fi
    if ((bnb_ok)); then
        train_pair nf4 --dtype bf16 --quantize nf4 --compute-dtype bf16 -- \
            ${bnb_site:+PYTHONPATH="$bnb_site"} --dtype bf16 --quantize nf4
    else
        train_pair nf4 --dtype bf16 --quantize nf4 --compute-dtype bf16 -- none "$nf4_why"
    fi
fi

# --- 6. Gradient checkpointing on both sides (memory at equal settings).
if skipping checkpointing; then skip_all SKIP train-checkpointing-finefail train-checkpointing-peft
else train_pair checkpointing --dtype bf16 --compute-dtype bf16 --checkpointing -- --dtype bf16 --checkpointing; fi

finished=1
exit 0
