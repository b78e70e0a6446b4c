#!/usr/bin/env bash
# Builds what scripts/gpu/device-check.sh needs on the GPU machine, into .gpu/ (ignored by git; the
# device call carries it): finefail with --features tch, linked against torch 2.11 (the machine's
# version, from the venv of scripts/gpu/setup-torch.sh), stripped and gzipped (finefail.gz); and
# SmolLM2's tokenizer.json(.gz), whose vocabulary the random checkpoints use. The machine has no Rust toolchain, so the binary is built here;
# at run time device-check.sh points LD_LIBRARY_PATH at that machine's own torch/lib.
#
# Environment: GPU_VENV (default ~/.cache/finefail/torch211/venv), GPU_TARGET_DIR (cargo's target dir
# for this build, default ~/.cache/finefail/target-gpu: apart from `make check-gpu`'s, whose torch 2.9
# would otherwise rebuild torch-sys and everything above it at each switch; pointing it at the default
# build's target dir reuses the dependencies that do not depend on burn), TOKENIZER (default
# checkpoints/smollm2-135m-instruct/tokenizer.json).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
venv="${GPU_VENV:-$HOME/.cache/finefail/torch211/venv}"
target="${GPU_TARGET_DIR:-$HOME/.cache/finefail/target-gpu}"
tokenizer="${TOKENIZER:-checkpoints/smollm2-135m-instruct/tokenizer.json}"
[[ -x $venv/bin/python ]] || { echo "gpu-pack: no venv at $venv: run scripts/gpu/setup-torch.sh" >&2; exit 2; }
[[ -f $tokenizer ]] || { echo "gpu-pack: $tokenizer is missing: run \`make model\`" >&2; exit 2; }
torch_lib=$("$venv/bin/python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
echo "gpu-pack: building finefail --features tch against $("$venv/bin/python" -c 'import torch; print(torch.__version__)') into $target" >&2
# LIBTORCH_BYPASS_VERSION_CHECK: tch 0.22 expects torch 2.9; 2.11 is what the GPU machine has.
VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" LIBTORCH_USE_PYTORCH=1 LIBTORCH_BYPASS_VERSION_CHECK=1 \
    CARGO_TARGET_DIR="$target" cargo build --features tch --bin finefail
mkdir -p .gpu
rm -f .gpu/finefail .gpu/tokenizer.json
strip -o .gpu/finefail.tmp "$target/debug/finefail"
LD_LIBRARY_PATH="$torch_lib" .gpu/finefail.tmp --version > /dev/null \
    || { echo "gpu-pack: the built binary does not start against $torch_lib" >&2; exit 1; }
# Compressed: the working tree and what it carries travel within 64 MiB; device-check.sh unpacks.
gzip -9 -c .gpu/finefail.tmp > .gpu/finefail.gz.tmp && mv .gpu/finefail.gz.tmp .gpu/finefail.gz
rm .gpu/finefail.tmp
gzip -9 -c "$tokenizer" > .gpu/tokenizer.json.gz

# bitsandbytes for the PEFT side of the NF4 comparison (the GPU machine lacks it). Its wheel (43 MB)
# holds a library per CUDA version; only the CPU and CUDA 13.0 ones travel (what torch 2.11+cu130
# loads), unpacked there onto PYTHONPATH by device-check.sh. Skipped, with a line, when PyPI is out
# of reach: the NF4 section then runs finefail alone.
bnb_version=0.50.2
wheels="${FINEFAIL_WHEELS:-$HOME/.cache/finefail/wheels}"
mkdir -p "$wheels"
if python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_24_x86_64 -d "$wheels" "bitsandbytes==$bnb_version" 2> /dev/null; then
    scratch=$(mktemp -d)
    python3 -m zipfile -e "$wheels/bitsandbytes-$bnb_version-py3-none-manylinux_2_24_x86_64.whl" "$scratch"
    find "$scratch/bitsandbytes" -name 'libbitsandbytes_*.so' \
        ! -name 'libbitsandbytes_cpu.so' ! -name 'libbitsandbytes_cuda130.so' -delete
    tar -C "$scratch" -czf .gpu/bitsandbytes.tar.gz bitsandbytes "bitsandbytes-$bnb_version.dist-info"
    rm -rf "$scratch"
else
    echo "gpu-pack: could not download bitsandbytes $bnb_version: the NF4 check will run finefail alone" >&2
    rm -f .gpu/bitsandbytes.tar.gz
fi
echo "gpu-pack: .gpu/ holds $(du -sh .gpu | cut -f1): $(ls .gpu | tr '\n' ' ')" >&2
