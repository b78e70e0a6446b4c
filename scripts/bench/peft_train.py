#!/usr/bin/env python3
"""PyTorch + PEFT training peer for `make bench`.

LoRA r=16, alpha=32, dropout 0 on q/k/v/o of the default model, AdamW lr 1e-4, seeded random token
ids, cross-entropy over every position (next-token targets for all T inputs), optional gradient
accumulation. Prints one JSON object (same shape as `finefail bench train`, plus "peer") and writes
it to --json. Runs in the peers' venv (scripts/bench/setup-peers.sh), never in CI.

On a GPU (`--device cuda`, scripts/gpu/device-check.sh) it also takes `--dtype bf16` (the base in
bf16, LoRA in f32 as PEFT keeps it), `--checkpointing` (transformers' gradient checkpointing) and
`--quantize int8|nf4` (bitsandbytes, when installed), and reports torch's peak allocated and reserved
GPU memory.
"""
import argparse
import json
import resource
import sys
import time


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="checkpoints/smollm2-135m-instruct", help="HF-layout model dir")
    p.add_argument("--batch", type=int, default=8, help="effective batch B (sequences per optimizer step)")
    p.add_argument("--seq", type=int, default=512, help="sequence length T")
    p.add_argument("--micro-batch", type=int, default=None,
                   help="sequences per forward/backward (B must be a multiple); default B, no accumulation")
    p.add_argument("--steps", type=int, default=4, help="optimizer steps; the first is warm-up, not averaged")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (the machine has 2 cores)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--dtype", choices=["f32", "bf16"], default="f32", help="dtype of the frozen base")
    p.add_argument("--checkpointing", action="store_true", help="gradient checkpointing")
    p.add_argument("--quantize", choices=["none", "int8", "nf4"], default="none",
                   help="frozen base through bitsandbytes (QLoRA); needs bitsandbytes and a GPU")
    p.add_argument("--json", help="also write the JSON object to this file")
    a = p.parse_args()
    a.micro_batch = a.micro_batch or a.batch
    if a.batch % a.micro_batch:
        p.error("--batch must be a multiple of --micro-batch")
    if a.steps < 2:
        p.error("--steps must be at least 2 (the first step is warm-up)")
    return a


def main():
    a = parse_args()
    import torch  # imported late so --help works without the venv
    import torch.nn.functional as F
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    dtype = {"f32": torch.float32, "bf16": torch.bfloat16}[a.dtype]
    load = dict(dtype=dtype)
    if a.quantize != "none":
        from transformers import BitsAndBytesConfig  # needs bitsandbytes installed
        load["quantization_config"] = (
            BitsAndBytesConfig(load_in_8bit=True) if a.quantize == "int8" else
            BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                               bnb_4bit_compute_dtype=dtype, bnb_4bit_use_double_quant=False))
    if a.device != "cpu":
        load["device_map"] = {"": a.device}
    model = AutoModelForCausalLM.from_pretrained(a.model, **load)
    if a.checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    cuda = a.device.startswith("cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, bias="none", task_type="CAUSAL_LM",
                      target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])
    model = get_peft_model(model, lora)
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    vocab = model.config.vocab_size
    gen = torch.Generator().manual_seed(a.seed)
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    accum = a.batch // a.micro_batch

    step_seconds = []
    for step in range(a.steps):
        # T+1 random ids per sequence: inputs are the first T, targets the last T, so every one of
        # the T positions has a target (as in our trainer).
        ids = torch.randint(0, vocab, (a.batch, a.seq + 1), generator=gen).to(a.device)
        sync()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        total = 0.0
        for mb in ids.split(a.micro_batch):
            logits = model(input_ids=mb[:, :-1]).logits.float()
            loss = F.cross_entropy(logits.reshape(-1, vocab), mb[:, 1:].reshape(-1)) / accum
            loss.backward()
            total += loss.item()
            del logits, loss
        opt.step()
        sync()
        dt = time.perf_counter() - t0
        step_seconds.append(dt)
        print(f"peft: step {step + 1}/{a.steps} loss {total:.4f} {dt:.2f}s "
              f"({a.batch * a.seq / dt:.1f} tok/s)", file=sys.stderr, flush=True)

    timed = step_seconds[1:]
    out = {
        "peer": "pytorch+peft",
        "batch": a.batch,
        "seq": a.seq,
        "micro_batch": a.micro_batch,
        "step_seconds": [round(s, 4) for s in step_seconds],
        "tokens_per_s": a.batch * a.seq * len(timed) / sum(timed),
        # ru_maxrss is in KiB on Linux
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "threads": a.threads,
        "device": a.device,
        "dtype": a.dtype,
        "quantize": a.quantize,
        "checkpointing": a.checkpointing,
        "note": f"torch {torch.__version__}, transformers {__import__('transformers').__version__}, "
                f"peft {__import__('peft').__version__}, {a.dtype} base, {a.quantize} quantization, "
                f"{model.config._attn_implementation} attention, "
                f"{'' if a.checkpointing else 'no '}gradient checkpointing",
    }
    if cuda:
        out["peak_gpu_allocated_mb"] = torch.cuda.max_memory_allocated() / 2**20
        out["peak_gpu_reserved_mb"] = torch.cuda.max_memory_reserved() / 2**20
    text = json.dumps(out)
    print(text)
    if a.json:
        with open(a.json, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
