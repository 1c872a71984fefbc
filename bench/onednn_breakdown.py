#!/usr/bin/env python3
"""Where a UNet training step spends its time inside oneDNN, Jittor against PyTorch.

Both frameworks run their convolutions through oneDNN on the CPU (Jittor 1.3.11 through its ``mkl_conv`` operators
and the system's oneDNN, PyTorch through its bundled copy).  For each framework a fresh process builds the model
of ``bench/compare_torch.py`` on the same seeded input, warms up, times ``--steps`` training steps, then runs
the same number of steps again with oneDNN's verbose mode switched on and adds up the execution times it reports,
by primitive (convolution forward / backward-data / backward-weights, reorders, the rest).  The remainder of the
step is the framework's own work (element-wise and reduction kernels, optimizer, scheduling).

    python bench/onednn_breakdown.py [--shape 4x128] [--steps 3] [--out bench/results/onednn_breakdown.md]

Needs torch (``make setup-torch``).  Not a test; compare numbers from one run only.
"""
import argparse
import ctypes
import json
import os
import subprocess
import sys
from collections import defaultdict

from bench import compare_torch, emit_table, median_seconds

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

ROWS = ("convolution forward", "convolution backward_data", "convolution backward_weights", "reorder", "other")


def _category(kind, prop):
    if kind == "convolution":
        return f"convolution {'forward' if prop.startswith('forward') else prop}"
    return kind if kind in ROWS else "other"


def parse_verbose(lines):
    """Sum oneDNN's ``exec`` lines (2.x and 3.x formats) into milliseconds per category."""
    total = defaultdict(float)
    for line in lines:
        fields = line.strip().split(",")
        if not fields[0].endswith("_verbose") or "exec" not in fields:
            continue
        i = fields.index("exec")
        kind, prop = fields[i + 2], fields[i + 4]
        try:
            total[_category(kind, prop)] += float(fields[-1])
        except ValueError:
            continue
    return dict(total)


def _verbose_switch(framework):
    """A function ``on(bool)`` that switches oneDNN's verbose mode of this process."""
    if framework == "torch":
        import torch
        return lambda on: torch._C._verbose.mkldnn_set_verbose(1 if on else 0)
    lib = ctypes.CDLL("libdnnl.so.2")  # the library Jittor's operators are linked against, already loaded
    return lambda on: lib.dnnl_set_verbose(1 if on else 0)


def child(framework, batch, size, steps, warmup):
    train_step, _ = (compare_torch.torch_steps if framework == "torch" else compare_torch.jittor_steps)(batch, size)
    verbose = _verbose_switch(framework)
    step_s = median_seconds(train_step, steps, warmup)
    sys.stdout.flush()
    verbose(True)
    for _ in range(steps):
        train_step()
    verbose(False)
    print(json.dumps({"step_s": step_s}), flush=True)


def run_child(framework, batch, size, steps, warmup):
    env = dict(os.environ, PYTHONPATH=ROOT)
    done = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", framework, str(batch), str(size),
                           str(steps), str(warmup)], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{framework} child failed:\n{done.stderr[-3000:]}")
    lines = done.stdout.splitlines()
    result = json.loads(next(line for line in lines if line.startswith("{")))
    ms = {k: v / steps for k, v in parse_verbose(lines).items()}  # per step
    return result["step_s"] * 1000.0, ms


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shape", default="4x128", help="batch x size")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--out", help="also write the markdown table to this file")
    p.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        fw, batch, size, steps, warmup = a.child
        child(fw, int(batch), int(size), int(steps), int(warmup))
        return 0

    batch, size = (int(v) for v in a.shape.lower().split("x"))
    res = {fw: run_child(fw, batch, size, a.steps, a.warmup) for fw in ("jittor", "torch")}
    lines = [f"UNet training step at {batch} x 3 x {size} x {size}: median of {a.steps} steps, then oneDNN's own "
             f"execution times summed over {a.steps} more with verbose mode on; ms per step\n",
             "| | Jittor (ms) | PyTorch (ms) | Jittor / PyTorch |", "|---|---|---|---|"]

    def row(name, j, t):
        lines.append(f"| {name} | {j:.0f} | {t:.0f} | {j / t:.2f} |" if t > 0 else f"| {name} | {j:.0f} | {t:.0f} | — |")

    (jw, jms), (tw, tms) = res["jittor"], res["torch"]
    for name in ROWS:
        row(name, jms.get(name, 0.0), tms.get(name, 0.0))
    jd, td = sum(jms.values()), sum(tms.values())
    row("**all oneDNN primitives**", jd, td)
    row("outside oneDNN (step - oneDNN)", jw - jd, tw - td)
    row("**training step**", jw, tw)
    text = "\n".join(lines)
    emit_table(text, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
