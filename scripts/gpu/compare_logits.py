#!/usr/bin/env python3
"""finefail's logits against transformers' on the same bf16 checkpoint, on the same device.

Two finefail runs are compared, both with the frozen base stored in bf16, and both against ONE
reference: transformers holding the same bf16 weights upcast to f32 (`model.float()`), TF32 off.
- `--logits`: projections multiplied in f32 (`--compute-dtype f32`): the two must agree to f32
  rounding of long sums, `max|diff| / max|ref| ≤ --tolerance` (default 1e-3).
- `--logits-16` (optional): projections multiplied in bf16 (`--compute-dtype bf16`, the GPU default).
  Its distance from the f32 reference is judged against transformers' OWN bf16-vs-f32 distance on the
  same tokens (the "drift"): `relative ≤ max(--drift-factor × drift, --tolerance)` (factor 2). It is
  not judged against transformers in bf16: transformers keeps its residual stream in bf16 and routes
  Mixtral's experts on bf16 scores while finefail routes in f32, so near-tied experts flip and two
  correct bf16 models can be far apart; each is judged by how far it is from the exact answer. The
  argmax agreement with the f32 reference is reported beside transformers-bf16's own (not judged).

The transformers logits (bf16, then f32 after `model.float()`, from ONE load) come from
`--reference DIR` when scripts/gpu/make_checkpoint.py wrote them there (`--reference-text`) for the
same token ids; else this script loads the model once and computes both.

    compare_logits.py --model DIR --logits F32.npy [--logits-16 BF16.npy] --ids IDS.txt
                      [--reference DIR/reference] --device cuda --json OUT.json

IDS.txt is `finefail model logits`'s stdout (the token ids, space separated). Exit 1 on a failed
tolerance, a NaN or unusable input.
"""
import argparse
import json
import os
import sys
import time

import numpy as np


def compare(ours, theirs):
    diff = np.abs(ours.astype(np.float64) - theirs.astype(np.float64))
    return {
        "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()),
        "relative": float(diff.max() / np.abs(theirs).max()),
        "argmax_agreement": float(np.mean(ours.argmax(1) == theirs.argmax(1))),
        "finite": bool(np.isfinite(ours).all()),
    }


def read_ids(path):
    return [int(t) for t in open(path).read().split() if t.isdigit()]


def transformers_logits(a, ids):
    """(bf16, f32, source): from --reference when it holds these ids, else from one load."""
    if a.reference:
        try:
            ref_ids = read_ids(os.path.join(a.reference, "ids.txt"))
            if ref_ids == ids:
                return (np.load(os.path.join(a.reference, "bf16.npy")),
                        np.load(os.path.join(a.reference, "f32.npy")),
                        f"{a.reference} (written by make_checkpoint.py from the model it made)")
            print(f"compare_logits: {a.reference} holds other token ids ({len(ref_ids)} vs "
                  f"{len(ids)}): loading the model instead", file=sys.stderr)
        except (OSError, ValueError) as e:
            print(f"compare_logits: no usable reference in {a.reference} ({e}): loading the model",
                  file=sys.stderr)
    import torch
    import transformers

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    device = a.device
    if device != "cpu" and not torch.cuda.is_available():
        sys.exit(f"compare_logits: --device {device} but torch {torch.__version__} sees no GPU")
    t0 = time.perf_counter()
    x = torch.tensor([ids], device=device)
    model = transformers.AutoModelForCausalLM.from_pretrained(
        a.model, dtype=torch.bfloat16, device_map={"": device})
    model.eval()
    with torch.no_grad():
        bf16 = model(x).logits[0].float().cpu().numpy()
        model.float()
        f32 = model(x).logits[0].float().cpu().numpy()
    return bf16, f32, f"loaded here on {device} ({time.perf_counter() - t0:.1f} s, one load)"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--logits", required=True, help="finefail's .npy [tokens, vocab], f32 compute")
    p.add_argument("--logits-16", help="finefail's .npy with bf16 compute")
    p.add_argument("--ids", required=True, help="finefail model logits' stdout")
    p.add_argument("--reference", help="make_checkpoint.py's reference/ folder (ids.txt, bf16.npy, f32.npy)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--tolerance", type=float, default=1e-3)
    p.add_argument("--drift-factor", type=float, default=2.0,
                   help="bf16 compute may be this many times as far from f32 as transformers-bf16 is")
    p.add_argument("--json", required=True)
    a = p.parse_args()

    ours = np.load(a.logits)
    ids = read_ids(a.ids)
    if len(ids) != ours.shape[0]:
        sys.exit(f"compare_logits: {len(ids)} ids in {a.ids} but {ours.shape[0]} rows in {a.logits}")
    ours16 = np.load(a.logits_16) if a.logits_16 else None
    if ours16 is not None and ours16.shape != ours.shape:
        sys.exit(f"compare_logits: {a.logits_16} is {ours16.shape}, {a.logits} is {ours.shape}")
    bf16, f32, source = transformers_logits(a, ids)
    if f32.shape != ours.shape:
        sys.exit(f"compare_logits: transformers gives {f32.shape}, finefail {ours.shape}")

    drift = compare(bf16, f32)
    result = {
        "model": a.model,
        "tokens": len(ids),
        "vocab": int(ours.shape[1]),
        "reference": "transformers, same bf16 weights upcast to f32, TF32 off",
        "reference_source": source,
        "tolerance": a.tolerance,
        "vs_transformers_f32_from_bf16": compare(ours, f32),
        "transformers_bf16_vs_f32": drift,
    }
    r = result["vs_transformers_f32_from_bf16"]
    result["pass_f32"] = r["finite"] and r["relative"] <= a.tolerance
    result["pass"] = result["pass_f32"]
    if ours16 is not None:
        tol16 = max(a.drift_factor * drift["relative"], a.tolerance)
        result["drift_factor"] = a.drift_factor
        result["tolerance_16"] = tol16
        result["bf16_compute_vs_transformers_f32"] = compare(ours16, f32)
        # Shown only: transformers-bf16 is no reference for finefail's bf16 (see the docstring).
        result["bf16_compute_vs_transformers_bf16"] = compare(ours16, bf16)
        r16 = result["bf16_compute_vs_transformers_f32"]
        result["pass_16"] = r16["finite"] and r16["relative"] <= tol16
        result["pass"] = result["pass"] and result["pass_16"]
    with open(a.json, "w") as f:
        json.dump(result, f, indent=1)
    line = (f"compare_logits: {a.model}: {len(ids)} tokens, reference {source}; f32 compute vs "
            f"transformers f32: relative {r['relative']:.3g} (≤ {a.tolerance:g}), argmax "
            f"{r['argmax_agreement']:.1%}")
    if ours16 is not None:
        line += (f"; bf16 compute vs transformers f32: relative {r16['relative']:.3g} (≤ {tol16:.3g} = "
                 f"{a.drift_factor:g} × transformers-bf16's {drift['relative']:.3g}), argmax "
                 f"{r16['argmax_agreement']:.1%} (transformers-bf16: {drift['argmax_agreement']:.1%})")
    print(f"{line} -> {'PASS' if result['pass'] else 'FAIL'}", file=sys.stderr)
    sys.exit(0 if result["pass"] else 1)


if __name__ == "__main__":
    main()
