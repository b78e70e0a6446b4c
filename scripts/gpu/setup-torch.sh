#!/usr/bin/env bash
# A Python venv that mirrors the lent GPU machine's (torch 2.11.0 + CUDA 13, transformers 5.17.0, peft,
# safetensors 0.8.0), outside the repo: `make gpu-pack` builds finefail against its torch, and
# `make gpu-rehearsal` runs scripts/gpu/device-check.sh with it on tch-cpu. The PyPI torch wheel pulls
# the nvidia-* CUDA wheels (about 5 GB); only the CPU is used here. Idempotent.
#
#   scripts/gpu/setup-torch.sh [VENV]      (default ~/.cache/finefail/torch211/venv, or $GPU_VENV)
set -euo pipefail
venv="${1:-${GPU_VENV:-$HOME/.cache/finefail/torch211/venv}}"
pkgs=("torch==2.11.0" "transformers==5.17.0" "peft==0.21.2" "safetensors==0.8.0" "accelerate==1.15.0" "numpy")
if [[ -x $venv/bin/python ]] && "$venv/bin/python" -c 'import torch, transformers, peft; assert torch.__version__.startswith("2.11.0")' 2> /dev/null; then
    echo "setup-torch: $venv already has torch 2.11.0, transformers and peft" >&2
    exit 0
fi
echo "setup-torch: creating $venv with ${pkgs[*]} from PyPI (several GB)" >&2
[[ -x $venv/bin/python ]] || python3 -m venv "$venv"
"$venv/bin/pip" install --progress-bar off --quiet "${pkgs[@]}"
"$venv/bin/python" -c 'import torch, transformers, peft; print("setup-torch: torch", torch.__version__, "transformers", transformers.__version__, "peft", peft.__version__)'
