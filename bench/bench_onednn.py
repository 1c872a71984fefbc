#!/usr/bin/env python3
"""Benchmark: UNet training step and inference per image, Jittor with oneDNN vs without.

Each configuration runs in its own process (Jittor reads ``use_mkl`` at import), on the same inputs
(batch 4 x 3 x 128 x 128, seeded), after warm-up steps that also compile the kernels.  Prints a markdown table
and the ratio; times are medians.  Not a test: these machines are noisy, compare numbers from one run only.

    python bench/bench_onednn.py [--batch 4] [--size 128] [--repeats 5] [--repeats-slow 2]
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np

from bench import median_seconds
from utils import runtime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def measure(batch, size, repeats, warmup):
    jt = runtime.init()
    from loss import build_loss
    from model import create_model
    from utils.optim import make_optimizer

    jt.set_global_seed(0)
    model = create_model("unet")
    opt = make_optimizer("Adam", model.parameters(), 1e-4)
    crit = build_loss("ce")
    rng = np.random.RandomState(0)
    x = jt.array(rng.rand(batch, 3, size, size).astype("float32"))
    y = jt.array((rng.rand(batch, size, size) > 0.9).astype("int32"))

    def train_step():
        model.train()
        loss = crit(model(x), y)
        opt.step(loss)
        loss.sync()
        jt.sync_all(True)

    def infer():
        model.eval()
        with jt.no_grad():
            model(x).sync()
        jt.sync_all(True)

    out = {"oneDNN": runtime.describe()}
    for name, fn in (("train_step_s", train_step), ("infer_s", infer)):
        out[name] = median_seconds(fn, repeats, warmup)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--repeats", type=int, default=5, help="timed repeats with oneDNN")
    p.add_argument("--repeats-slow", type=int, default=2, help="timed repeats without oneDNN (very slow)")
    p.add_argument("--child", choices=["on", "off"], help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        reps = a.repeats if a.child == "on" else a.repeats_slow
        print(json.dumps(measure(a.batch, a.size, reps, warmup=2 if a.child == "on" else 1)))
        return
    rows = {}
    for mode in ("on", "off"):
        env = dict(os.environ)
        env.pop("use_mkl", None)
        if mode == "off":
            env["use_mkl"] = "0"
        print(f"measuring oneDNN {mode} ...", file=sys.stderr, flush=True)
        done = subprocess.run([sys.executable, __file__, "--child", mode] + sys.argv[1:], env=env,
                              capture_output=True, text=True, check=True)
        rows[mode] = json.loads(done.stdout.strip().splitlines()[-1])
    b = a.batch
    print(f"UNet, batch {b} x 3 x {a.size} x {a.size}, median times (training step = forward + backward + Adam)\n")
    print("| Jittor | training step (s) | per image (ms) | inference (s) | per image (ms) |")
    print("|---|---|---|---|---|")
    for mode, label in (("on", "with oneDNN"), ("off", "without oneDNN")):
        r = rows[mode]
        print(f"| {label} | {r['train_step_s']:.3f} | {1000 * r['train_step_s'] / b:.1f} | {r['infer_s']:.3f} | "
              f"{1000 * r['infer_s'] / b:.1f} |")
    on, off = rows["on"], rows["off"]
    print(f"\nspeed-up from oneDNN: training x{off['train_step_s'] / on['train_step_s']:.1f}, "
          f"inference x{off['infer_s'] / on['infer_s']:.1f}")


if __name__ == "__main__":
    main()
