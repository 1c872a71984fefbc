#!/usr/bin/env python3
"""Benchmark: epoch time of UNet training on the demo set with 1 process vs N MPI processes.

Runs ``run.py --mode train`` on the demo data once in a single process and once under ``mpirun -np N`` (same
global batch, same seed), each in a fresh folder, and reads the seconds of every epoch from the epoch logs.
The first epoch includes compiling kernels; the table reports the median of the later epochs.  Not a test.

    python bench/bench_mpi.py [--np 2] [--epochs 3] [--batch 8] [--img-size 128]
"""
import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TAG = "unet-demo-Adam-ce-stnFalse-pretrainFalse-augFalse"


def train(cmd_prefix, folder, data_root, a):
    cmd = cmd_prefix + [sys.executable, os.path.join(ROOT, "run.py"), "--dataset", "demo", "--data-root", data_root,
                        "--mode", "train", "-e", str(a.epochs), "-b", str(a.batch), "-l", "1e-3",
                        "--img-size", str(a.img_size)]
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    subprocess.run(cmd, cwd=folder, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(os.path.join(folder, "result", f"{TAG}-log.csv")) as f:
        return [float(r["seconds"]) for r in csv.DictReader(f)]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--np", type=int, default=2)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--img-size", type=int, default=128)
    a = p.parse_args()
    mpirun = shutil.which("mpirun")
    if not mpirun:
        sys.exit("mpirun not found: apt-get install openmpi-bin libopenmpi-dev")
    work = tempfile.mkdtemp(prefix="bench-mpi-")
    data_root = os.path.join(work, "data")
    rows = []
    for n in (1, a.np):
        folder = os.path.join(work, f"np{n}")
        os.makedirs(folder)
        prefix = [] if n == 1 else [mpirun, "--oversubscribe", "-np", str(n)]
        print(f"training with {n} process(es) ...", file=sys.stderr, flush=True)
        seconds = train(prefix, folder, data_root, a)
        rows.append((n, seconds))
    print(f"UNet on demo, {a.img_size}x{a.img_size}, global batch {a.batch}, {os.cpu_count()} CPU cores\n")
    print("| processes | epoch seconds (all) | median after the first | speed-up |")
    print("|---|---|---|---|")
    base = statistics.median(rows[0][1][1:] or rows[0][1])
    for n, secs in rows:
        med = statistics.median(secs[1:] or secs)
        print(f"| {n} | {', '.join(f'{s:.1f}' for s in secs)} | {med:.1f} | x{base / med:.2f} |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
