#!/usr/bin/env python3
"""Runs a command and measures its peak GPU memory the same way for every program.

finefail (LibTorch through Rust) cannot report torch's allocator statistics, so both sides of the
comparison are measured from outside: the GPU's used memory (NVML, as nvidia-smi shows it) sampled
every 20 ms while the command runs, minus what was used before it started. That counts the CUDA
context and the allocator's cache, for finefail and for PyTorch alike. Without a GPU (the CPU
rehearsal) the peak GPU memory is null and only the child's peak RSS is recorded.

    gpu_memory.py --json MEASURE.json -- CMD ARGS...

Exits with the command's status; MEASURE.json gets {"peak_gpu_mb", "baseline_gpu_mb",
"peak_child_rss_mb", "wall_s", "exit_code"}.
"""
import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time


def nvml_reader():
    """A function returning the GPU's used memory in MiB, or None when no GPU/NVML is there."""
    try:
        import pynvml  # nvidia-ml-py, installed on the GPU machine

        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        return lambda: pynvml.nvmlDeviceGetMemoryInfo(handle).used / 2**20
    except Exception:  # no module, no driver, no device: the CPU rehearsal
        pass
    try:
        subprocess.run(["nvidia-smi", "-L"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        return None

    def smi():
        out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits",
                              "-i", "0"], capture_output=True, text=True).stdout
        return float(out.split()[0])

    return smi


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", required=True)
    p.add_argument("--interval", type=float, default=0.02, help="seconds between samples")
    p.add_argument("command", nargs=argparse.REMAINDER)
    a = p.parse_args()
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not cmd:
        p.error("no command given")

    read = nvml_reader()
    baseline = read() if read else None
    peak = [baseline]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], read())
            time.sleep(a.interval)

    sampler = threading.Thread(target=sample, daemon=True) if read else None
    if sampler:
        sampler.start()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd)

    # `timeout` stops this wrapper with SIGTERM: stop the measured program with it, so that it does
    # not hold the GPU through the next section.
    def stop(signum, _frame):
        proc.kill()  # no wait() here: the main thread is inside proc.wait(), holding its lock
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    code = proc.wait()
    wall = time.perf_counter() - t0
    done.set()
    if sampler:
        sampler.join()
    result = {
        "peak_gpu_mb": None if baseline is None else round(peak[0] - baseline, 1),
        "baseline_gpu_mb": baseline,
        "peak_child_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "wall_s": round(wall, 2),
        "exit_code": code,
    }
    with open(a.json, "w") as f:
        json.dump(result, f)
    print(f"gpu_memory: {json.dumps(result)}", file=sys.stderr)
    sys.exit(code)


if __name__ == "__main__":
    main()
