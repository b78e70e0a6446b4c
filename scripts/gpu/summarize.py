#!/usr/bin/env python3
"""Collects what scripts/gpu/device-check.sh measured into OUT/results.json and OUT/summary.md.

Every section's status (ok, failed, timed-out, skipped, not-run) is listed; a number appears only
where its section wrote one. Ratios are finefail / PEFT on the same card, same model and shapes:
training tokens/s (target ≥ 0.8) and peak GPU memory measured from outside the process (target ≤ 1).
"""
import argparse
import datetime
import glob
import json
import os


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def fmt(x, digits=1):
    return "—" if x is None else f"{x:,.{digits}f}"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ["work", "out", "device", "scale", "shape"]:
        p.add_argument(f"--{name}", required=True)
    for name in ["batch", "seq", "micro-batch"]:
        p.add_argument(f"--{name}", type=int, required=True)
    a = p.parse_args()
    steps = os.path.join(a.work, "steps")
    sections = {}
    # In the order they ran.
    for path in sorted(glob.glob(os.path.join(steps, "*.status")), key=os.path.getmtime):
        name = os.path.basename(path)[: -len(".status")]
        what, secs = open(path).read().split()
        sections[name] = {"status": what, "seconds": int(secs),
                          "result": load(os.path.join(steps, f"{name}.json")),
                          "memory": load(os.path.join(steps, f"{name}.gpu.json"))}
        why = os.path.join(steps, f"{name}.why")
        if os.path.exists(why):
            sections[name]["why"] = open(why).read().strip()
    results = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "device": a.device, "scale": a.scale, "shape": a.shape,
        "batch": a.batch, "seq": a.seq, "micro_batch": a.micro_batch,
        "sections": sections,
    }
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)

    md = [f"# GPU check, {results['date']}", "",
          f"Device `{a.device}`, scale `{a.scale}` ({a.shape}), training {a.batch} × {a.seq}, "
          f"micro-batch {a.micro_batch}.", "", "## Sections", "", "| section | status | seconds |",
          "|---|---|---:|"]
    for name, s in sections.items():
        md.append(f"| {name} | {s['status']}{' (' + s['why'] + ')' if 'why' in s else ''} | {s['seconds']} |")

    md += ["", "## Logits vs transformers (same bf16 weights)", "",
           "f32 compute against transformers in f32 (same bf16 weights, TF32 off); bf16 compute against "
           "transformers in bf16.", "",
           "| model | tokens | f32 compute: rel. diff | argmax | bf16 compute: rel. diff | argmax | pass |",
           "|---|---:|---:|---:|---:|---:|---|"]
    for name, s in sections.items():
        r = s["result"]
        if name.startswith("logits-") and r:
            f32 = r["vs_transformers_f32_from_bf16"]
            bf = r.get("bf16_compute_vs_transformers_bf16")
            bf_cells = (f"{bf['relative']:.2e} | {bf['argmax_agreement']:.1%}" if bf else "— | —")
            md.append(f"| {name[7:]} | {r['tokens']} | {f32['relative']:.2e} | {f32['argmax_agreement']:.1%} "
                      f"| {bf_cells} | {'yes' if r['pass'] else 'NO'} (≤ {r['tolerance']:g}"
                      f"{', ' + format(r['tolerance_16'], 'g') if bf else ''}) |")

    md += ["", "## Training (LoRA r 16 on q/k/v/o, AdamW)", "",
           "| base | finefail tok/s | PEFT tok/s | ratio (≥ 0.8) | finefail peak GPU MB | PEFT peak GPU MB "
           "| ratio (≤ 1) | PEFT allocator peak MB |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for kind in ["bf16", "nf4", "ckpt"]:
        ours, peer = sections.get(f"train-{kind}-finefail"), sections.get(f"train-{kind}-peft")
        if not ours:
            continue
        tok = lambda s: (s or {}).get("result") and s["result"].get("tokens_per_s")
        mem = lambda s: (s or {}).get("memory") and s["memory"].get("peak_gpu_mb")
        t_o, t_p, m_o, m_p = tok(ours), tok(peer), mem(ours), mem(peer)
        ratio = lambda x, y: None if not x or not y else x / y
        alloc = (peer or {}).get("result") and peer["result"].get("peak_gpu_allocated_mb")
        label = {"bf16": "bf16", "nf4": "NF4 (bf16 compute)", "ckpt": "bf16 + checkpointing"}[kind]
        md.append(f"| {label} | {fmt(t_o)} | {fmt(t_p)} | {fmt(ratio(t_o, t_p), 2)} | {fmt(m_o, 0)} "
                  f"| {fmt(m_p, 0)} | {fmt(ratio(m_o, m_p), 2)} | {fmt(alloc, 0)} |")

    md += ["", "## Generation (bf16 base, greedy)", "",
           "| batch | prompt | new | prefill tok/s | decode tok/s | peak GPU MB |", "|---:|---:|---:|---:|---:|---:|"]
    for name in ["generate-b1", "generate-b8"]:
        s = sections.get(name)
        r = s and s["result"]
        if r:
            md.append(f"| {r['batch']} | {r['prompt_len']} | {r['new_tokens']} | {fmt(r['prefill_tokens_per_s'])} "
                      f"| {fmt(r['decode_tokens_per_s'])} | {fmt((s['memory'] or {}).get('peak_gpu_mb'), 0)} |")
    text = "\n".join(md) + "\n"
    with open(os.path.join(a.out, "summary.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
