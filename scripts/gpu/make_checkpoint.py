#!/usr/bin/env python3
"""A random Llama- or Mixtral-shaped checkpoint made with transformers, for the GPU check.

No real 7B model can travel to the GPU machine (64 MiB), so the check makes one there: transformers'
own initialisation (normal, std = initializer_range; norms 1), stored in bf16 as
`model.safetensors` (sharded as transformers writes it) + `config.json`, with SmolLM2's
`tokenizer.json` copied beside it so `finefail model logits` can tokenize. The vocabulary size is the
tokenizer's. Needs torch + transformers (the GPU machine's python3 has both).

    python3 make_checkpoint.py OUT --shape llama-7b --tokenizer .gpu/tokenizer.json [--device cuda]
        [--reference-text TEXT]

With --reference-text, the model still in memory also gives transformers' logits of TEXT (tokenized
with the same tokenizer.json, special tokens added, as `finefail model logits` does) in bf16 and, after
`model.float()`, in f32 (TF32 off), into OUT/reference/ (ids.txt, bf16.npy, f32.npy):
scripts/gpu/compare_logits.py reads them instead of loading the model a second time.

The last file written is OUT/complete.json (shape, parameters, seconds): a folder without it is a
half-written checkpoint (a run stopped in the middle), which is removed before anything is written and
which scripts/gpu/device-check.sh never reuses.

Shapes: llama-7b (Llama-2-7B: 4096 wide, 32 layers, MLP 11008, 32 heads), mixtral-small (Mixtral-8x7B
at a quarter of its width and depth: 1024 wide, 8 layers, 8 experts of 3584, top 2, 16 heads, 4 KV
heads), tiny-llama and tiny-mixtral (for a CPU rehearsal). --layers overrides the depth.
"""
import argparse
import json
import os
import re
import shutil
import sys
import time

MARKER = "complete.json"  # written last: its absence marks a half-written checkpoint
REFERENCE = "reference"  # transformers' logits of --reference-text
# What this script writes into OUT (anything else there: not ours, not removed).
OURS = re.compile(r"(config\.json|generation_config\.json|model.*\.safetensors(\.index\.json)?"
                  r"|tokenizer\.json|reference|complete\.json(\.tmp)?)$")

SHAPES = {
    "llama-7b": dict(arch="llama", hidden=4096, layers=32, ffn=11008, heads=32, kv_heads=32),
    "mixtral-small": dict(arch="mixtral", hidden=1024, layers=8, ffn=3584, heads=16, kv_heads=4,
                          experts=8, top_k=2),
    "tiny-llama": dict(arch="llama", hidden=128, layers=2, ffn=344, heads=4, kv_heads=2),
    "tiny-mixtral": dict(arch="mixtral", hidden=128, layers=2, ffn=256, heads=4, kv_heads=2,
                         experts=4, top_k=2),
}


def vocab_size(tokenizer_path):
    """Size of the id space of a tokenizers-library tokenizer.json (model vocab + added tokens)."""
    with open(tokenizer_path, encoding="utf-8") as f:
        tok = json.load(f)
    ids = list(tok["model"]["vocab"].values()) + [t["id"] for t in tok.get("added_tokens", [])]
    return max(ids) + 1


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--shape", choices=sorted(SHAPES), required=True)
    p.add_argument("--layers", type=int, help="override the number of decoder layers")
    p.add_argument("--tokenizer", required=True, help="SmolLM2's tokenizer.json")
    p.add_argument("--device", default="cuda" if os.environ.get("CUDA_VISIBLE_DEVICES", "x") else "cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--reference-text", help="also write transformers' logits of this text (OUT/reference/)")
    a = p.parse_args()

    import torch
    import transformers

    s = dict(SHAPES[a.shape])
    if a.layers:
        s["layers"] = a.layers
    common = dict(hidden_size=s["hidden"], intermediate_size=s["ffn"], num_hidden_layers=s["layers"],
                  num_attention_heads=s["heads"], num_key_value_heads=s["kv_heads"],
                  vocab_size=vocab_size(a.tokenizer), rms_norm_eps=1e-5, rope_theta=10000.0,
                  max_position_embeddings=4096, tie_word_embeddings=False, bos_token_id=1,
                  eos_token_id=2)
    if s["arch"] == "llama":
        config, cls = transformers.LlamaConfig(**common), transformers.LlamaForCausalLM
    else:
        config = transformers.MixtralConfig(**common, num_local_experts=s["experts"],
                                            num_experts_per_tok=s["top_k"])
        cls = transformers.MixtralForCausalLM
    device = a.device
    if device != "cpu" and not torch.cuda.is_available():
        sys.exit(f"make_checkpoint: --device {device} but torch {torch.__version__} sees no GPU")
    marker = os.path.join(a.out, MARKER)
    if os.path.exists(a.out):  # a half-written (or older) checkpoint: start clean
        stray = [n for n in os.listdir(a.out) if not OURS.match(n)]
        if stray:
            sys.exit(f"make_checkpoint: {a.out} holds files a checkpoint of ours would not: {stray[:5]}; "
                     "not removing it")
        if os.path.exists(marker):
            os.remove(marker)  # first, so that a stop in the middle of rmtree leaves no marker
        shutil.rmtree(a.out)
    torch.manual_seed(a.seed)
    t0 = time.perf_counter()
    torch.set_default_dtype(torch.bfloat16)
    with torch.device(device):
        model = cls(config)
    torch.set_default_dtype(torch.float32)
    model.eval()
    params = sum(t.numel() for t in model.parameters())
    model.save_pretrained(a.out, safe_serialization=True)
    shutil.copy(a.tokenizer, os.path.join(a.out, "tokenizer.json"))
    saved = time.perf_counter() - t0
    print(f"make_checkpoint: {a.out}: {a.shape}, {s['layers']} layers, {params / 1e9:.2f}B parameters, "
          f"bf16, on {device}, {saved:.1f} s", file=sys.stderr)
    if a.reference_text:
        reference_logits(model, a.tokenizer, a.reference_text, os.path.join(a.out, REFERENCE), device)
    done = {"shape": a.shape, "layers": s["layers"], "parameters": params, "seed": a.seed,
            "device": device, "seconds": round(time.perf_counter() - t0, 1),
            "reference_text": a.reference_text}
    with open(marker + ".tmp", "w") as f:
        json.dump(done, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(marker + ".tmp", marker)
    print(f"make_checkpoint: {a.out} complete ({done['seconds']} s)", file=sys.stderr)


def reference_logits(model, tokenizer_path, text, out, device):
    """transformers' logits of `text` from the model in memory: bf16, then f32 (same weights)."""
    import numpy as np
    import tokenizers
    import torch

    t0 = time.perf_counter()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    ids = tokenizers.Tokenizer.from_file(tokenizer_path).encode(text, add_special_tokens=True).ids
    x = torch.tensor([ids], device=device)
    os.makedirs(out, exist_ok=True)
    with torch.no_grad():
        np.save(os.path.join(out, "bf16.npy"), model(x).logits[0].float().cpu().numpy())
        model.float()
        np.save(os.path.join(out, "f32.npy"), model(x).logits[0].float().cpu().numpy())
    with open(os.path.join(out, "ids.txt"), "w") as f:
        f.write(" ".join(map(str, ids)) + "\n")
    print(f"make_checkpoint: reference logits of {len(ids)} tokens (bf16, f32) in {out}, "
          f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
