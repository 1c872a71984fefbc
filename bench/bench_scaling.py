#!/usr/bin/env python3
"""Benchmark: how UNet's training epoch time grows with the number of images and the image size.

Trains one epoch of UNet (Adam, batch 4, cross-entropy) on the first N training images of the demo set resized
to S x S, for every N in ``--counts`` and S in ``--sizes``, in one process; a warm-up epoch at each size runs
first, so kernel compilation is not timed. It also reports the share of the epoch spent waiting for the data
loader (reading, augmenting and batching samples). Writes a markdown table. Not a test.

    python bench/bench_scaling.py [--counts 12,24,48] [--sizes 64,128,256] [--out bench/results/scaling.md]
"""
import argparse
import os
import sys
import time

from bench import emit_table
from utils import runtime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class TimedLoader:
    """Wraps a loader and adds up the time spent fetching its batches."""

    def __init__(self, loader):
        self.loader, self.wait = loader, 0.0

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        it = iter(self.loader)
        while True:
            start = time.perf_counter()
            try:
                batch = next(it)
            except StopIteration:
                return
            self.wait += time.perf_counter() - start
            yield batch


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--counts", default="12,24,48")
    p.add_argument("--sizes", default="64,128,256")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--data-root", default=os.path.join(ROOT, "data"))
    p.add_argument("--aug", action="store_true", help="with the colour augmentation (--aug)")
    p.add_argument("--out", help="also write the markdown table to this file")
    a = p.parse_args()

    jt = runtime.init()
    from advance.augment import training_augmentation
    from dataset import load_split
    from dataset.loader import SegDataset
    from loss import build_loss
    from model import create_model
    from pipeline.engine import train_one_epoch
    from utils.optim import make_optimizer

    samples = load_split("demo", "train", a.data_root)
    counts = [int(c) for c in a.counts.split(",")]
    sizes = [int(s) for s in a.sizes.split(",")]
    if max(counts) > len(samples):
        sys.exit(f"the demo training split has {len(samples)} images; --counts asks for {max(counts)}")
    augment = training_augmentation(color=a.aug)
    rows = []
    for size in sizes:
        jt.set_global_seed(0)
        model = create_model("unet")
        opt = make_optimizer("Adam", model.parameters(), 1e-3)
        crit = build_loss("ce")
        for n in [min(counts)] + counts:  # the first pass warms up (compiles) at this size
            data = SegDataset(samples[:n], img_size=size, augment=augment, batch_size=a.batch,
                              shuffle=True).preload(desc=f"{n} images at {size}")
            loader = TimedLoader(data)
            start = time.perf_counter()
            train_one_epoch(model, loader, crit, opt, epoch=1, desc=f"{n} x {size}px")
            seconds = time.perf_counter() - start
            rows.append((size, n, seconds, loader.wait))
        rows.pop(-len(counts) - 1)  # drop the warm-up pass
    lines = [f"UNet training epoch (Adam, batch {a.batch}{', --aug' if a.aug else ''}), {runtime.describe()}, "
             f"{os.cpu_count()} cores\n",
             "| image size | images | epoch (s) | s per image | waiting for data |", "|---|---|---|---|---|"]
    for size, n, seconds, wait in rows:
        lines.append(f"| {size} | {n} | {seconds:.1f} | {seconds / n:.3f} | {100 * wait / seconds:.1f} % |")
    text = "\n".join(lines)
    emit_table(text, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
