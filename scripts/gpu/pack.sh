#!/usr/bin/env bash
# Builds what scripts/gpu/device-check.sh needs on the GPU machine, into .gpu/ (ignored by git; the
# device call carries it): finefail with --features tch, linked against torch 2.11 (the machine's
# version, from the venv of scripts/gpu/setup-torch.sh), stripped and gzipped (finefail.gz); and
# SmolLM2's tokenizer.json(.gz), whose vocabulary the random checkpoints use. The machine has no Rust toolchain, so the binary is built here;
# at run time device-check.sh points LD_LIBRARY_PATH at that machine's own torch/lib.
#
# It proves what it packed, and writes it down in .gpu/manifest.txt (device-check.sh prints it and
# compares the torch version with the machine's): the torch it was built against, and the libraries
# the binary needs (readelf -d), which must include libtorch_cuda.so — a binary linked without it
# (the linker's --as-needed drops it, or a CPU-only torch) runs, but never on the GPU.
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
torch_version=$("$venv/bin/python" -c 'import torch; print(torch.__version__, "cuda", torch.version.cuda)')
echo "gpu-pack: building finefail --features tch against torch $torch_version into $target" >&2
# LIBTORCH_BYPASS_VERSION_CHECK: tch 0.22 expects torch 2.9; 2.11 is what the GPU machine has.
VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" LIBTORCH_USE_PYTORCH=1 LIBTORCH_BYPASS_VERSION_CHECK=1 \
    CARGO_TARGET_DIR="$target" cargo build --features tch --bin finefail
mkdir -p .gpu
rm -f .gpu/finefail .gpu/tokenizer.json .gpu/manifest.txt
strip -o .gpu/finefail.tmp "$target/debug/finefail"
needed=$(readelf -d .gpu/finefail.tmp | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
echo "gpu-pack: the binary needs: $needed" >&2
if [[ " $needed " != *" libtorch_cuda.so "* ]]; then
    echo "gpu-pack: libtorch_cuda.so is not among the binary's needed libraries: it would never use the GPU" >&2
    rm -f .gpu/finefail.tmp
    exit 1
fi
LD_LIBRARY_PATH="$torch_lib" .gpu/finefail.tmp --version > /dev/null \
    || { echo "gpu-pack: the built binary does not start against $torch_lib" >&2; exit 1; }
finefail_version=$(LD_LIBRARY_PATH="$torch_lib" .gpu/finefail.tmp --version)
# Compressed: the working tree and what it carries travel within 64 MiB; device-check.sh unpacks.
gzip -9 -n -c .gpu/finefail.tmp > .gpu/finefail.gz.tmp && mv .gpu/finefail.gz.tmp .gpu/finefail.gz
rm .gpu/finefail.tmp
gzip -9 -n -c "$tokenizer" > .gpu/tokenizer.json.gz

# bitsandbytes for the PEFT side of the NF4 comparison (the GPU machine lacks it). Its wheel (43 MB)
# holds a library per CUDA version; only the CPU and CUDA 13.0 ones travel (what torch 2.11+cu130
# loads), unpacked there by device-check.sh into its work dir (on PYTHONPATH for the NF4 PEFT run
# alone). Skipped, with a line, when PyPI is out of reach: the NF4 section then runs finefail alone.
# The wheel is unpacked inside the tree (target/), not in /tmp.
bnb_version=0.50.2
wheels="${FINEFAIL_WHEELS:-$HOME/.cache/finefail/wheels}"
mkdir -p "$wheels"
bnb_line="bitsandbytes none (could not download $bnb_version)"
if python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_24_x86_64 -d "$wheels" "bitsandbytes==$bnb_version" 2> /dev/null; then
    scratch="$root/target/gpu-pack-scratch"
    rm -rf "$scratch" && mkdir -p "$scratch"
    python3 -m zipfile -e "$wheels/bitsandbytes-$bnb_version-py3-none-manylinux_2_24_x86_64.whl" "$scratch"
    find "$scratch/bitsandbytes" -name 'libbitsandbytes_*.so' \
        ! -name 'libbitsandbytes_cpu.so' ! -name 'libbitsandbytes_cuda130.so' -delete
    [[ -f $scratch/bitsandbytes/libbitsandbytes_cuda130.so ]] \
        || { echo "gpu-pack: bitsandbytes $bnb_version has no libbitsandbytes_cuda130.so" >&2; exit 1; }
    tar -C "$scratch" -czf .gpu/bitsandbytes.tar.gz bitsandbytes "bitsandbytes-$bnb_version.dist-info"
    rm -rf "$scratch"
    bnb_line="bitsandbytes $bnb_version (CPU + CUDA 13.0 libraries)"
else
    echo "gpu-pack: could not download bitsandbytes $bnb_version: the NF4 check will run finefail alone" >&2
    rm -f .gpu/bitsandbytes.tar.gz
fi
{
    echo "torch $torch_version"
    echo "binary $finefail_version (--features tch, dev profile, stripped)"
    echo "needed $needed"
    echo "$bnb_line"
    echo "packed $(date -u +%Y-%m-%dT%H:%MZ)"
    (cd .gpu && sha256sum finefail.gz tokenizer.json.gz && if [[ -f bitsandbytes.tar.gz ]]; then sha256sum bitsandbytes.tar.gz; fi)
} > .gpu/manifest.txt
size_kb=$(du -sk .gpu | cut -f1)
echo "gpu-pack: .gpu/ holds $((size_kb / 1024)) MiB: $(cd .gpu && echo *)" >&2
((size_kb < 56 * 1024)) || echo "gpu-pack: WARNING: .gpu/ is over 56 MiB; the device call carries 64 MiB at most, the tree included" >&2
sed 's/^/gpu-pack: manifest: /' .gpu/manifest.txt >&2
