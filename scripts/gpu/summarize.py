#!/usr/bin/env python3
"""Collects what scripts/gpu/device-check.sh measured into OUT/results.json and OUT/summary.md.

device-check.sh calls it after every section (state "partial", note "running") and once more at the
end (state "complete", or "partial" with why it stopped), so a run stopped anywhere leaves a summary.
Every planned section is listed in the order of the plan with its status (ok, failed, timed-out,
interrupted, skipped: why, not-run: why, or "not reached" when the run stopped before it), its
seconds, planned seconds and limit; a number appears only where its section wrote one. Ratios are
finefail / PEFT on the same card, same model and shapes: training tokens/s (target ≥ 0.8) and peak
GPU memory measured from outside the process (target ≤ 1). Needs only the standard library.
"""
import argparse
import datetime
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


def read_sections(steps):
    """{name: section} in the plan's order (steps/order), then any recorded section not in it."""
    try:
        order = [line.strip() for line in open(os.path.join(steps, "order")) if line.strip()]
    except OSError:
        order = []
    recorded = sorted((f[: -len(".status")] for f in os.listdir(steps) if f.endswith(".status")),
                      key=lambda n: os.path.getmtime(os.path.join(steps, n + ".status")))
    sections = {}
    for name in order + [n for n in recorded if n not in order]:
        s = {"status": "not reached", "seconds": None, "planned_s": None, "limit_s": None}
        try:
            fields = open(os.path.join(steps, f"{name}.status")).read().split(maxsplit=4)
        except OSError:
            fields = None
        if fields:
            s["status"] = fields[0]
            nums = [int(x) if x.isdigit() else None for x in fields[1:4]]
            s["seconds"], s["planned_s"], s["limit_s"] = (nums + [None] * 3)[:3]
            if len(fields) > 4 and fields[4].strip():
                s["note"] = fields[4].strip()
            s["result"] = load(os.path.join(steps, f"{name}.json"))
            s["memory"] = load(os.path.join(steps, f"{name}.gpu.json"))
        sections[name] = s
    return sections


def status_cell(s):
    what, note = s["status"], s.get("note")
    if what in ("skipped", "not-run") and note:
        return f"{what}: {note}"
    if what in ("failed", "timed-out", "interrupted", "running") and note:
        return f"**{what}** ({note})"
    if what == "ok" and note == "reused":
        return "ok (reused)"
    return what


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ["work", "out", "device", "scale", "shape"]:
        p.add_argument(f"--{name}", required=True)
    for name in ["batch", "seq", "micro-batch"]:
        p.add_argument(f"--{name}", type=int, required=True)
    p.add_argument("--state", default="complete", help="complete | partial")
    p.add_argument("--note", default="", help="why partial (or 'running')")
    p.add_argument("--budget", type=int)
    p.add_argument("--elapsed", type=int)
    a = p.parse_args()
    steps = os.path.join(a.work, "steps")
    sections = read_sections(steps)
    try:
        facts = [line.rstrip("\n") for line in open(os.path.join(steps, "facts")) if line.strip()]
    except OSError:
        facts = []
    counts = {}
    for s in sections.values():
        key = s["status"]
        counts[key] = counts.get(key, 0) + 1
    results = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "state": a.state, "note": a.note, "budget_s": a.budget, "elapsed_s": a.elapsed,
        "device": a.device, "scale": a.scale, "shape": a.shape,
        "batch": a.batch, "seq": a.seq, "micro_batch": a.micro_batch,
        "facts": facts, "counts": counts, "sections": sections,
    }
    with open(os.path.join(a.out, "results.json.tmp"), "w") as f:
        json.dump(results, f, indent=1)
    os.replace(os.path.join(a.out, "results.json.tmp"), os.path.join(a.out, "results.json"))

    state = ("complete (every section was reached; see each one's status)" if a.state == "complete"
             else f"**PARTIAL** ({a.note or 'stopped early'}); sections \"not reached\" never ran")
    ran = ", ".join(f"{n} {k}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    md = [f"# GPU check, {results['date']}", "",
          f"State: {state}.", "",
          f"Device `{a.device}`, scale `{a.scale}` ({a.shape}), training {a.batch} × {a.seq}, "
          f"micro-batch {a.micro_batch}; {a.elapsed if a.elapsed is not None else '?'} s of a "
          f"{a.budget if a.budget is not None else '?'} s budget. Sections: {ran}.", ""]
    md += [f"- {f}" for f in facts]
    md += ["", "## Sections (in the planned order)", "",
           "| section | status | seconds | planned | limit |", "|---|---|---:|---:|---:|"]
    for name, s in sections.items():
        cell = lambda x: "" if x is None else str(x)
        md.append(f"| {name} | {status_cell(s)} | {cell(s['seconds'])} | {cell(s['planned_s'])} "
                  f"| {cell(s['limit_s'])} |")

    md += ["", "## Logits vs transformers in f32 (same bf16 weights, TF32 off)", "",
           "finefail's f32 compute must be within the f32 tolerance; its bf16 compute within "
           "drift-factor × transformers-bf16's own distance from the same f32 reference (drift). "
           "Argmax: share of positions whose top token matches the f32 reference.", "",
           "| model | tokens | f32 compute: rel. diff | argmax | bf16 compute: rel. diff | tolerance "
           "| argmax | transformers-bf16 (drift): rel. diff | argmax | pass |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for name, s in sections.items():
        r = s.get("result")
        if not (name.startswith("logits-") and r):
            continue
        f32 = r["vs_transformers_f32_from_bf16"]
        bf = r.get("bf16_compute_vs_transformers_f32")
        drift = r.get("transformers_bf16_vs_f32")
        bf_cells = (f"{bf['relative']:.2e} | ≤ {r['tolerance_16']:.2e} | {bf['argmax_agreement']:.1%}"
                    if bf else "— | — | —")
        drift_cells = f"{drift['relative']:.2e} | {drift['argmax_agreement']:.1%}" if drift else "— | —"
        verdict = "yes" if r["pass"] else ("NO" + ("" if r.get("pass_f32") else " (f32)")
                                          + ("" if r.get("pass_16", True) else " (bf16)"))
        md.append(f"| {name[7:]} | {r['tokens']} | {f32['relative']:.2e} (≤ {r['tolerance']:g}) "
                  f"| {f32['argmax_agreement']:.1%} | {bf_cells} | {drift_cells} | {verdict} |")

    md += ["", "## Training (LoRA r 16 on q/k/v/o, AdamW)", "",
           "| base | finefail tok/s | PEFT tok/s | ratio (≥ 0.8) | finefail peak GPU MB | PEFT peak GPU MB "
           "| ratio (≤ 1) | PEFT allocator peak MB |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for kind in ["bf16", "nf4", "checkpointing"]:
        ours, peer = sections.get(f"train-{kind}-finefail"), sections.get(f"train-{kind}-peft")
        if not ours or ours["status"] in ("skipped", "not reached"):
            continue
        tok = lambda s: ((s or {}).get("result") or {}).get("tokens_per_s")
        mem = lambda s: ((s or {}).get("memory") or {}).get("peak_gpu_mb")
        t_o, t_p, m_o, m_p = tok(ours), tok(peer), mem(ours), mem(peer)
        ratio = lambda x, y: None if not x or not y else x / y
        alloc = ((peer or {}).get("result") or {}).get("peak_gpu_allocated_mb")
        label = {"bf16": "bf16", "nf4": "NF4 (bf16 compute)", "checkpointing": "bf16 + checkpointing"}[kind]
        md.append(f"| {label} | {fmt(t_o)} | {fmt(t_p)} | {fmt(ratio(t_o, t_p), 2)} | {fmt(m_o, 0)} "
                  f"| {fmt(m_p, 0)} | {fmt(ratio(m_o, m_p), 2)} | {fmt(alloc, 0)} |")

    md += ["", "## Generation (bf16 base, greedy)", "",
           "| batch | prompt | new | prefill tok/s | decode tok/s | peak GPU MB |", "|---:|---:|---:|---:|---:|---:|"]
    for name in ["generate-b1", "generate-b8"]:
        s = sections.get(name)
        r = s and s.get("result")
        if r:
            md.append(f"| {r['batch']} | {r['prompt_len']} | {r['new_tokens']} | {fmt(r['prefill_tokens_per_s'])} "
                      f"| {fmt(r['decode_tokens_per_s'])} | {fmt((s.get('memory') or {}).get('peak_gpu_mb'), 0)} |")
    text = "\n".join(md) + "\n"
    with open(os.path.join(a.out, "summary.md.tmp"), "w") as f:
        f.write(text)
    os.replace(os.path.join(a.out, "summary.md.tmp"), os.path.join(a.out, "summary.md"))
    print(text)


if __name__ == "__main__":
    main()
