#!/usr/bin/env python3
"""Jittor vs PyTorch on UNet: output parity, then training-step and inference time and peak memory.

1. Parity: the Jittor UNet (seeded, BatchNorm statistics moved by a few training-mode passes) is exported by
   name to ``bench/torch_unet.py``'s PyTorch port; both run the same input in eval mode and the largest
   absolute difference of the logits must be at most 1e-4.
2. Timing: for each shape (default 4 x 3 x 128 x 128 and 1 x 3 x 256 x 256) and framework, a fresh process
   builds the model, warms up, then times ``--repeats`` training steps (forward, cross-entropy, backward, Adam
   update) and inference passes (eval mode, no gradients) on the same seeded input; medians are reported, with
   the ratio Jittor / PyTorch (< 1: Jittor faster) and each process's peak resident memory.  Both frameworks use
   every core.  Compare ratios from one run only: this machine is noisy.

    python bench/compare_torch.py [--repeats 5] [--shapes 4x128,1x256] [--out bench/results/compare_torch.md]
    python bench/compare_torch.py --cuda      # the same on the GPU (bench/gpu_check.sh)

Needs torch (``make setup-torch``).  Each framework runs in its own process: no import conflicts, clean peaks.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile

import numpy as np

from bench import emit_table, time_calls
from utils import runtime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _inputs(batch, size, seed=0):
    rng = np.random.RandomState(seed)
    return rng.rand(batch, 3, size, size).astype(np.float32), (rng.rand(batch, size, size) > 0.9).astype(np.int64)


# ------------------------------------------------------------------------------------------------ jittor side
def jittor_export(folder):
    jt = runtime.init()
    from model import create_model
    from utils.checkpoint import model_state
    jt.set_global_seed(0)
    model = create_model("unet")
    model.train()
    for seed in range(3):  # move the BatchNorm statistics away from their initial values
        model(jt.array(_inputs(2, 64, seed)[0])).sync()
    jt.sync_all(True)
    x = _inputs(2, 64, seed=7)[0]
    model.eval()
    with jt.no_grad():
        out = model(jt.array(x)).numpy()
    np.savez(os.path.join(folder, "weights.npz"), **model_state(model))
    np.savez(os.path.join(folder, "io.npz"), x=x, out=out)


def jittor_steps(batch, size):
    """``(train_step, infer)`` closures for the Jittor UNet on the seeded ``batch x 3 x size x size`` input."""
    jt = runtime.init()
    from loss import build_loss
    from model import create_model
    from utils.optim import make_optimizer
    jt.set_global_seed(0)
    model = create_model("unet")
    opt = make_optimizer("Adam", model.parameters(), 1e-4)
    crit = build_loss("ce")
    xs, ys = _inputs(batch, size)
    x, y = jt.array(xs), jt.array(ys.astype(np.int32))

    def train_step():
        model.train()
        loss = crit(model(x), y)
        opt.step(loss)
        jt.sync_all(True)

    def infer():
        model.eval()
        with jt.no_grad():
            model(x).sync()

    return train_step, infer


def jittor_time(batch, size, repeats, warmup):
    return _time(*jittor_steps(batch, size), repeats, warmup) | {"device": runtime.describe()}


# ------------------------------------------------------------------------------------------------ torch side
def torch_check(folder):
    import torch
    from bench.torch_unet import TorchUNet, load_numpy_state
    model = TorchUNet()
    load_numpy_state(model, dict(np.load(os.path.join(folder, "weights.npz"))))
    io = np.load(os.path.join(folder, "io.npz"))
    model.eval()
    with torch.no_grad():
        out = model(torch.from_numpy(io["x"])).numpy()
    return {"max_abs_diff": float(np.abs(out - io["out"]).max()), "max_abs_logit": float(np.abs(io["out"]).max())}


def _torch_device():
    import torch
    if os.environ.get("JMEDSEG_CUDA") == "1":
        if not torch.cuda.is_available():
            raise RuntimeError(f"PyTorch {torch.__version__} sees no CUDA device (a CPU build?)")
        return torch.device("cuda")
    return torch.device("cpu")


def torch_steps(batch, size):
    """``(train_step, infer)`` closures for the PyTorch port on the same input, on every core (or the GPU)."""
    import torch
    from bench.torch_unet import TorchUNet
    torch.set_num_threads(os.cpu_count())
    torch.manual_seed(0)
    device = _torch_device()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    model = TorchUNet().to(device)
    opt = torch.optim.Adam(model.parameters(), 1e-4, betas=(0.9, 0.999))
    xs, ys = _inputs(batch, size)
    x, y = torch.from_numpy(xs).to(device), torch.from_numpy(ys).to(device)

    def train_step():
        model.train()
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        sync()

    def infer():
        model.eval()
        with torch.no_grad():
            model(x)
        sync()

    return train_step, infer


def torch_time(batch, size, repeats, warmup):
    import torch
    where = (f"CUDA ({torch.cuda.get_device_name(0)})" if _torch_device().type == "cuda"
             else f"{torch.get_num_threads()} threads")
    return _time(*torch_steps(batch, size), repeats, warmup) | {"device": f"PyTorch {torch.__version__}, {where}"}


def _time(train_step, infer, repeats, warmup):
    out = {}
    for name, fn in (("train_s", train_step), ("infer_s", infer)):
        times = time_calls(fn, repeats, warmup)
        out[name] = statistics.median(times)
        out[name + "_all"] = times
    out["peak_mb"] = _peak_mb()
    return out


# ------------------------------------------------------------------------------------------------ driver
def _child(args, cuda=False):
    env = dict(os.environ, PYTHONPATH=ROOT, JMEDSEG_CUDA="1" if cuda else "0")
    done = subprocess.run([sys.executable, os.path.abspath(__file__), "--child"] + [str(a) for a in args],
                          capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--shapes", default="4x128,1x256", help="batch x size pairs, comma separated")
    p.add_argument("--out", help="also write the markdown table to this file")
    p.add_argument("--cuda", action="store_true", help="time both frameworks on the GPU")
    p.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        kind, rest = a.child[0], a.child[1:]
        if kind == "export":
            jittor_export(rest[0])
            print(json.dumps({}))
        elif kind == "check":
            print(json.dumps(torch_check(rest[0])))
        else:
            batch, size = int(rest[0]), int(rest[1])
            fn = jittor_time if kind == "jittor" else torch_time
            print(json.dumps(fn(batch, size, a.repeats, a.warmup)))
        return 0

    lines = []
    with tempfile.TemporaryDirectory() as folder:
        _child(["export", folder])
        parity = _child(["check", folder])
    ok = parity["max_abs_diff"] <= 1e-4
    lines.append(f"Parity (eval mode, 2 x 3 x 64 x 64, weights copied by name): max |Jittor - PyTorch| = "
                 f"{parity['max_abs_diff']:.2e} (logits up to {parity['max_abs_logit']:.2f}) -> "
                 f"{'OK' if ok else 'FAIL'} (limit 1e-4)\n")
    rows, devices = [], {}
    for shape in a.shapes.split(","):
        batch, size = (int(v) for v in shape.lower().split("x"))
        r = {fw: _child([fw, batch, size], a.cuda) for fw in ("jittor", "torch")}
        devices = {fw: r[fw]["device"] for fw in r}
        rows.append((batch, size, r))
    lines.append(f"UNet (17.3 M parameters), median of {a.repeats} after {a.warmup} warm-up; "
                 f"Jittor: {devices['jittor']}; {devices['torch']}; {os.cpu_count()} cores\n")
    lines.append("| input | Jittor train step (s) | PyTorch train step (s) | ratio | Jittor inference (s) | "
                 "PyTorch inference (s) | ratio | peak MB Jittor / PyTorch |")
    lines.append("|---|---|---|---|---|---|---|---|")
    for batch, size, r in rows:
        j, t = r["jittor"], r["torch"]
        lines.append(f"| {batch} x 3 x {size} x {size} | {j['train_s']:.3f} | {t['train_s']:.3f} | "
                     f"{j['train_s'] / t['train_s']:.2f} | {j['infer_s']:.3f} | {t['infer_s']:.3f} | "
                     f"{j['infer_s'] / t['infer_s']:.2f} | {j['peak_mb']:.0f} / {t['peak_mb']:.0f} |")
    text = "\n".join(lines)
    emit_table(text, a.out)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
