#!/usr/bin/env python3
"""Writes the `make bench` tables into docs/performance.md; stdlib only.

usage: write_report.py RESULTS_DIR REPORT.md

RESULTS_DIR holds what scripts/bench/run.sh left: meta.json, NAME.json for each run that worked and
NAME.skip (one line: why) for each that did not. The generated part goes between
<!-- bench:begin --> and <!-- bench:end -->; everything else in REPORT.md is kept as written. The
markers are added after the title (or at the top) when absent. Written to a temp file, then renamed.
"""
import argparse
import json
import os
import sys
import tempfile

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
SETUP = "run scripts/bench/setup-peers.sh"
# run name -> (who, what it measures)
RUNS = {
    "ours_train": ("finefail", "LoRA training"),
    "peft_train": ("PyTorch + PEFT", "LoRA training"),
    "ours_gen_b1": ("finefail", "generation, batch 1"),
    "ours_gen_b8": ("finefail", "generation, batch 8"),
    "candle_gen_b1": ("candle", "generation, batch 1"),
    "candle_gen_b8": ("candle", "generation, batch 8"),
    "llama_gen_b1": ("llama.cpp", "generation, batch 1"),
    "llama_gen_b8": ("llama.cpp", "generation, batch 8"),
}
TRAIN_TPS_RATIO, TRAIN_RSS_MB = 1.3, 3000          # the targets docs/performance.md states: ≥ 1.3× PEFT, ≤ 3 GB
PREFILL_RATIO, DECODE_B1, DECODE_B8, INFER_RSS_MB = 2.0, 45.0, 157.0, 700


def load(results):
    runs, why = {}, {}
    for name in RUNS:
        path = os.path.join(results, name + ".json")
        skip = os.path.join(results, name + ".skip")
        if os.path.isfile(path):
            try:
                with open(path) as f:
                    runs[name] = json.load(f)
            except (OSError, ValueError) as e:
                why[name] = f"unreadable result: {e}"
        elif os.path.isfile(skip):
            with open(skip) as f:
                why[name] = f.read().strip() or "skipped"
        else:
            why[name] = "not run"
    meta = {}
    try:
        with open(os.path.join(results, "meta.json")) as f:
            meta = json.load(f)
    except (OSError, ValueError):
        pass
    return meta, runs, why


def num(x, unit=""):
    if x is None:
        return "—"
    s = f"{x:,.0f}" if abs(x) >= 100 else f"{x:.1f}"
    return s + unit


def ratio(a, b):
    return a / b if a is not None and b else None


def met(ok):
    return "—" if ok is None else ("yes" if ok else "**no**")


def get(runs, name, key):
    v = runs.get(name, {}).get(key)
    return float(v) if isinstance(v, (int, float)) else None


def missing(why, name):
    """Short cell text for a run that has no numbers."""
    w = why.get(name, "")
    return "not installed" if w.startswith("not installed") else "n/a"


def cell(runs, why, name, key, unit=""):
    return num(get(runs, name, key), unit) if name in runs else missing(why, name)


def training(runs, why):
    lines = ["### Training (LoRA r16 on q/k/v/o, AdamW, f32)", "",
             "| run | shape | tok/s | peak RSS | step seconds (first = warm-up) |", "|---|---|---|---|---|"]
    for name in ("ours_train", "peft_train"):
        who = RUNS[name][0]
        r = runs.get(name)
        if r is None:
            lines.append(f"| {who} | — | {missing(why, name)} | — | — |")
            continue
        shape = f"{r.get('batch')} × {r.get('seq')}, micro-batch {r.get('micro_batch')}"
        steps = ", ".join(f"{s:.1f}" for s in r.get("step_seconds", []))
        lines.append(f"| {who} | {shape} | {num(get(runs, name, 'tokens_per_s'))} | "
                     f"{num(get(runs, name, 'peak_rss_mb'), ' MB')} | {steps} |")
    tps = ratio(get(runs, "ours_train", "tokens_per_s"), get(runs, "peft_train", "tokens_per_s"))
    rss = get(runs, "ours_train", "peak_rss_mb")
    lines += ["", "| check | value | target | met |", "|---|---|---|---|",
              f"| finefail / PEFT, tok/s | {'—' if tps is None else f'{tps:.2f}×'} | "
              f"≥ {TRAIN_TPS_RATIO}× | {met(None if tps is None else tps >= TRAIN_TPS_RATIO)} |",
              f"| finefail peak RSS | {num(rss, ' MB')} | ≤ 3 GB ({TRAIN_RSS_MB} MB) | "
              f"{met(None if rss is None else rss <= TRAIN_RSS_MB)} |"]
    return lines


def inference(runs, why):
    head = ["### Inference (SmolLM2-135M; finefail and candle f32, llama.cpp Q4_1)", "",
            "| metric | finefail | candle | llama.cpp (Q4_1) | finefail / candle | finefail / llama.cpp "
            "| target | met |", "|---|---|---|---|---|---|---|---|"]
    rows = []
    spec = [  # label, suffix of the run name, key, target text, check(ours, candle) or None
        ("prefill 1 × 512, tok/s", "gen_b1", "prefill_tokens_per_s", f"≥ {PREFILL_RATIO:g}× candle",
         lambda o, c: None if o is None or c is None else o / c >= PREFILL_RATIO),
        ("prefill 8 × 128, tok/s", "gen_b8", "prefill_tokens_per_s", f"≥ {PREFILL_RATIO:g}× candle",
         lambda o, c: None if o is None or c is None else o / c >= PREFILL_RATIO),
        ("decode batch 1, tok/s", "gen_b1", "decode_tokens_per_s", f"≥ {DECODE_B1:g} tok/s",
         lambda o, c: None if o is None else o >= DECODE_B1),
        ("decode batch 8 (aggregate), tok/s", "gen_b8", "decode_tokens_per_s", f"≥ {DECODE_B8:g} tok/s",
         lambda o, c: None if o is None else o >= DECODE_B8),
        ("peak RSS batch 1, MB", "gen_b1", "peak_rss_mb", f"≤ {INFER_RSS_MB} MB",
         lambda o, c: None if o is None else o <= INFER_RSS_MB),
        ("peak RSS batch 8, MB", "gen_b8", "peak_rss_mb", "—", lambda o, c: None),
    ]
    for label, suffix, key, target, check in spec:
        o, c, l = (get(runs, f"{p}_{suffix}", key) for p in ("ours", "candle", "llama"))
        rc, rl = ratio(o, c), ratio(o, l)
        rows.append(f"| {label} | {cell(runs, why, 'ours_' + suffix, key)} | "
                    f"{cell(runs, why, 'candle_' + suffix, key)} | {cell(runs, why, 'llama_' + suffix, key)} | "
                    f"{'—' if rc is None else f'{rc:.2f}×'} | {'—' if rl is None else f'{rl:.2f}×'} | "
                    f"{target} | {met(check(o, c))} |")
    return head + rows


def run_list(runs, why):
    lines = ["### Runs", ""]
    for name, (who, what) in RUNS.items():
        r = runs.get(name)
        if r is None:
            w = why.get(name, "not run")
            if w.startswith("not installed"):
                w = f"not installed: {SETUP}"
            lines.append(f"- {who}, {what}: **{w}**")
            continue
        shape = (f"{r.get('batch')} × {r.get('seq')}, micro-batch {r.get('micro_batch')}" if "seq" in r
                 else f"{r.get('batch')} × {r.get('prompt_len')} prompt + {r.get('new_tokens')} new tokens")
        extra = "; ".join(str(r[k]) for k in ("note",) if r.get(k))
        threads = f", {r['threads']} threads" if r.get("threads") else ""
        lines.append(f"- {who}, {what}: ok ({shape}{threads}){'; ' + extra if extra else ''}")
    return lines


def render(meta, runs, why):
    load = " ".join(meta.get("loadavg_start", [])) or "?"
    out = [BEGIN,
           "## Latest `make bench` run",
           "",
           "<!-- generated by scripts/bench/write_report.py from `make bench`; edits between the markers "
           "are overwritten -->",
           "",
           f"{meta.get('date', '?')} · {meta.get('nproc', '?')} cores ({meta.get('cpu', '?')}) · load average "
           f"at start {load} (1/5/15 min) · model `{meta.get('model', '?')}`. Runs were sequential; "
           "the peers live outside the repo (`scripts/bench/setup-peers.sh`) and never run in CI. A load "
           "average above the core count means the numbers are lower bounds.",
           ""]
    out += training(runs, why) + [""] + inference(runs, why) + [""] + run_list(runs, why) + [END]
    return "\n".join(out) + "\n"


def splice(old, block):
    """old with its marked section replaced by block (markers added if absent)."""
    if BEGIN in old and END in old and old.index(BEGIN) < old.index(END):
        before, rest = old.split(BEGIN, 1)
        after = rest.split(END, 1)[1]
        return before + block.rstrip("\n") + after
    if not old.strip():
        return "# Performance\n\n" + block
    lines = old.splitlines(keepends=True)
    first = next((i for i, l in enumerate(lines) if l.strip()), 0)
    if lines[first].startswith("# "):  # keep the title first, the table right below it
        return "".join(lines[:first + 1]) + "\n" + block + "\n" + "".join(lines[first + 1:]).lstrip("\n")
    return block + "\n" + old


def main():
    p = argparse.ArgumentParser(description="write the make-bench tables into a markdown file")
    p.add_argument("results", help="folder with meta.json, NAME.json and NAME.skip from run.sh")
    p.add_argument("report", help="markdown file to update (created if missing)")
    a = p.parse_args()
    if not os.path.isdir(a.results):
        sys.exit(f"write_report: no folder {a.results}")
    meta, runs, why = load(a.results)
    old = open(a.report).read() if os.path.exists(a.report) else ""
    new = splice(old, render(meta, runs, why))
    d = os.path.dirname(os.path.abspath(a.report))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".performance.", suffix=".tmp", dir=d)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(new)
        os.chmod(tmp, 0o644)
        os.replace(tmp, a.report)
    except BaseException:
        os.unlink(tmp)
        raise
    print(f"write_report: {len(runs)} of {len(RUNS)} runs have numbers; wrote {a.report}")


if __name__ == "__main__":
    main()
