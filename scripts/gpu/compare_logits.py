#!/usr/bin/env python3
"""finefail's logits against transformers' on the same bf16 checkpoint, on the same device.

Two finefail runs are compared, both with the frozen base stored in bf16:
- `--logits`: projections multiplied in f32 (`--compute-dtype f32`). Its independent reference is
  transformers holding the *same* bf16 weights upcast to f32 (`model.float()`), TF32 off: the two must
  agree to f32 rounding of long sums, `max|diff| / max|ref| ≤ --tolerance` (default 1e-3).
- `--logits-16` (optional): projections multiplied in bf16 (`--compute-dtype bf16`, the GPU default),
  against transformers computing in bf16 throughout (what a bf16 PEFT run does). Both round every
  product to bf16, in different orders, so they agree to bf16 rounding only:
  `≤ --tolerance-16` (default 5e-2), with the argmax agreement beside it.

    compare_logits.py --model DIR --logits F32.npy [--logits-16 BF16.npy] --ids IDS.txt --device cuda --json OUT.json

IDS.txt is `finefail model logits`'s stdout (the token ids, space separated). Exit 1 on a failed
tolerance.
"""
import argparse
import json
import sys

import numpy as np


def compare(ours, theirs):
    diff = np.abs(ours - theirs)
    return {
        "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()),
        "relative": float(diff.max() / np.abs(theirs).max()),
        "argmax_agreement": float(np.mean(ours.argmax(1) == theirs.argmax(1))),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--logits", required=True, help="finefail's .npy [tokens, vocab], f32 compute")
    p.add_argument("--logits-16", help="finefail's .npy with bf16 compute")
    p.add_argument("--tolerance-16", type=float, default=5e-2)
    p.add_argument("--ids", required=True, help="finefail model logits' stdout")
    p.add_argument("--device", default="cpu")
    p.add_argument("--tolerance", type=float, default=1e-3)
    p.add_argument("--json", required=True)
    a = p.parse_args()

    import torch
    import transformers

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    ours = np.load(a.logits)
    ids = [int(t) for t in open(a.ids).read().split() if t.isdigit()]
    if len(ids) != ours.shape[0]:
        sys.exit(f"compare_logits: {len(ids)} ids in {a.ids} but {ours.shape[0]} rows in {a.logits}")
    device = a.device if (a.device == "cpu" or torch.cuda.is_available()) else "cpu"
    x = torch.tensor([ids], device=device)
    model = transformers.AutoModelForCausalLM.from_pretrained(
        a.model, dtype=torch.bfloat16, device_map={"": device})
    model.eval()
    with torch.no_grad():
        bf16 = model(x).logits[0].float().cpu().numpy()
        model.float()
        f32 = model(x).logits[0].cpu().numpy()
    result = {
        "model": a.model,
        "tokens": len(ids),
        "vocab": int(ours.shape[1]),
        "device": device,
        "tolerance": a.tolerance,
        "vs_transformers_f32_from_bf16": compare(ours, f32),
        "vs_transformers_bf16": compare(ours, bf16),
        "transformers_bf16_vs_f32": compare(bf16, f32),
    }
    result["pass"] = result["vs_transformers_f32_from_bf16"]["relative"] <= a.tolerance
    if a.logits_16:
        ours16 = np.load(a.logits_16)
        result["tolerance_16"] = a.tolerance_16
        result["bf16_compute_vs_transformers_bf16"] = compare(ours16, bf16)
        result["bf16_compute_vs_transformers_f32_from_bf16"] = compare(ours16, f32)
        result["pass_16"] = result["bf16_compute_vs_transformers_bf16"]["relative"] <= a.tolerance_16
        result["pass"] = result["pass"] and result["pass_16"]
    with open(a.json, "w") as f:
        json.dump(result, f, indent=1)
    r = result["vs_transformers_f32_from_bf16"]
    line = (f"compare_logits: {a.model}: {len(ids)} tokens; f32 compute vs transformers f32 (same bf16 "
            f"weights): relative {r['relative']:.3g}, argmax {r['argmax_agreement']:.1%}")
    if a.logits_16:
        r16 = result["bf16_compute_vs_transformers_bf16"]
        line += (f"; bf16 compute vs transformers bf16: relative {r16['relative']:.3g}, "
                 f"argmax {r16['argmax_agreement']:.1%}")
    print(f"{line} -> {'PASS' if result['pass'] else 'FAIL'}", file=sys.stderr)
    sys.exit(0 if result["pass"] else 1)


if __name__ == "__main__":
    main()
