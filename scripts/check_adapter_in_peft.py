"""Loads an adapter finefail wrote into Python PEFT and compares PEFT's logits with finefail's.

Shows that `OUT/adapter/` really is a PEFT adapter: PEFT reads it without conversion and computes the
same function. Needs torch + transformers + peft (e.g. the benchmark peers' venv, outside the repo):

    ~/.cache/finefail/peers/venv/bin/python scripts/check_adapter_in_peft.py \
        --model checkpoints/smollm2-135m-instruct --adapter RUN/adapter [--finefail BIN]

Prints the max |difference| and max relative difference of the logits at every position, and exits
1 when the relative difference exceeds --tolerance (default 1e-3).
"""

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import transformers
from peft import PeftModel


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="base checkpoint directory (Hugging Face layout)")
    ap.add_argument("--adapter", required=True, help="adapter directory written by finefail")
    ap.add_argument("--text", default="Question: Is aspirin an anti-inflammatory drug? Answer:")
    ap.add_argument("--finefail", default="finefail", help="the finefail binary")
    ap.add_argument("--tolerance", type=float, default=1e-3)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        npy = os.path.join(tmp, "logits.npy")
        out = subprocess.run(
            [args.finefail, "model", "logits", "--model", args.model, "--adapter", args.adapter,
             "--text", args.text, "--out", npy],
            check=True, capture_output=True, text=True,
        ).stdout
        ours = np.load(npy)
    ids = [int(t) for t in out.split() if t.lstrip("-").isdigit()]
    if len(ids) != ours.shape[0]:
        sys.exit(f"could not read the token ids from finefail's output: {out!r}")

    torch.set_num_threads(2)
    base = transformers.AutoModelForCausalLM.from_pretrained(args.model, torch_dtype=torch.float32)
    model = PeftModel.from_pretrained(base, args.adapter)
    model.eval()
    with torch.no_grad():
        theirs = model(torch.tensor([ids])).logits[0].numpy()
    diff = np.abs(ours - theirs)
    rel = diff.max() / np.abs(theirs).max()
    print(f"tokens {len(ids)}, vocab {theirs.shape[1]}: max |diff| {diff.max():.3g}, "
          f"relative {rel:.3g}, argmax equal at {np.mean(ours.argmax(1) == theirs.argmax(1)):.0%} of positions")
    return 0 if rel <= args.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
