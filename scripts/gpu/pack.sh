#!/usr/bin/env bash
# Builds what scripts/gpu/device-check.sh needs on the GPU machine, into .gpu/ (ignored by git; the
# device call carries it): finefail with --features tch, linked against torch 2.11 (the machine's
# version, from the venv of scripts/gpu/setup-torch.sh), stripped; and SmolLM2's tokenizer.json, whose
# vocabulary the random checkpoints use. The machine has no Rust toolchain, so the binary is built here;
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
strip -o .gpu/finefail.tmp "$target/debug/finefail"
mv .gpu/finefail.tmp .gpu/finefail
cp "$tokenizer" .gpu/tokenizer.json
LD_LIBRARY_PATH="$torch_lib" .gpu/finefail --version > /dev/null \
    || { echo "gpu-pack: the built binary does not start against $torch_lib" >&2; exit 1; }
echo "gpu-pack: .gpu/ holds $(du -sh .gpu | cut -f1): $(ls .gpu | tr '\n' ' ')" >&2
