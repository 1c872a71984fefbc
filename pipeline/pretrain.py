"""``run_ssl.py``: contrastive self-supervised pretraining of a segmentation network (advance/ssl.py).

``--save`` receives the network's weights of the epoch with the lowest loss once the memory bank holds only
real keys (before that, of the latest epoch; ``--keep last``: always the latest), in the checkpoint format of
run.py (kind "ssl"); next to it go ``{save}-log.csv`` (loss per epoch) and ``{save}-loss.png``.
"""
import os
import time

import numpy as np
from matplotlib.figure import Figure

import jittor as jt

from advance.augment import ssl_augmentation
from advance.ssl import MoCoLearner, TwoViewDataset
from dataset import check_samples, dataset_tag, load_split
from dataset.loader import SegDataset
from model import create_model
from utils import checkpoint as ckpt
from utils import runtime
from utils.atomic import atomic_write_csv
from utils.errors import ConfigError
from utils.visualize import save_figure

from .engine import seed_epoch
from .setup import check_common_flags, check_sizes

LOG_FIELDS = ("epoch", "loss", "lr", "seconds", "bank_full", "saved")


def output_paths(save):
    """``(loss log CSV, loss curve PNG)`` beside the ``--save`` file."""
    stem = os.path.splitext(save)[0]
    return f"{stem}-log.csv", f"{stem}-loss.png"


def plot_loss(path, history, title, saved_epoch):
    fig = Figure(figsize=(6, 3.2))
    ax = fig.subplots()
    ax.plot([h["epoch"] for h in history], [h["loss"] for h in history], marker="o", ms=3, label="InfoNCE loss")
    row = next(h for h in history if h["epoch"] == saved_epoch)
    ax.plot([saved_epoch], [row["loss"]], "r*", ms=10, label=f"saved (epoch {saved_epoch})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)


def pretrain(args):
    check_common_flags(args, lr_flag="--lr")
    if args.temperature <= 0:
        raise ConfigError(f"--temperature must be positive, got {args.temperature}")
    jt.set_global_seed(args.seed)

    samples = load_split(args.dataset, "train", args.data_root)
    sizes = check_samples(samples, args.img_size, need_masks=False, what="train split")
    check_sizes(args.model, sizes, "training")
    images = SegDataset(samples, n_classes=args.class_num, img_size=args.img_size, need_masks=False)
    images.preload(desc="reading the train split")
    loader = TwoViewDataset(images, ssl_augmentation(), batch_size=args.batch_size, shuffle=True)

    model = create_model(args.model, in_channels=3, n_classes=args.class_num)
    if args.pretrain:
        meta = ckpt.load_weights(model, args.checkpoint, expected_model=args.model)
        print(f"starting from {args.checkpoint}" + (f" ({meta.get('kind')})" if meta.get("kind") else ""))
    first = jt.array(np.stack([loader[i][0] for i in range(min(2, len(samples)))]))
    learner = MoCoLearner(model, args.layer, first, channels=args.embedding_channel, queue_size=args.queue_size,
                          temperature=args.temperature, momentum=args.momentum, lr=args.lr,
                          rng=np.random.default_rng(args.seed))
    log_path, plot_path = output_paths(args.save)
    tag = dataset_tag(args.dataset)
    print(f"{runtime.describe()}\nmodel {args.model}, layer {args.layer} ({learner.channels} channels) -> 128; "
          f"{len(samples)} training images of {tag}; K {args.queue_size}, T {args.temperature:g}, momentum "
          f"{args.momentum:g}{' (shared encoder)' if args.momentum == 0 else ''}; Adam lr {args.lr:g}, batch "
          f"{args.batch_size}, {args.epochs} epochs")

    # The epoch with the lowest loss is kept.  Losses are comparable only once the memory bank holds real keys
    # (before, part of the negatives are the initial random vectors, which are easy): until then each epoch is
    # saved as the latest, and the search for the lowest loss starts with the first epoch of a full bank.
    best, history, saved = float("inf"), [], None
    for epoch in range(1, args.epochs + 1):
        seed_epoch(args.seed, epoch, [loader])
        full = learner.bank_full
        t0 = time.perf_counter()
        loss = learner.train_epoch(loader, desc=f"ssl epoch {epoch}")
        keep = args.keep == "last" or (not full) or loss < best
        if full and loss < best:
            best = loss
        if keep:
            saved = (epoch, loss)
            ckpt.save_weights(model, args.save, dict(
                model=args.model, kind="ssl", dataset=tag, n_classes=args.class_num, layer=args.layer,
                channels=learner.channels, momentum=args.momentum, epoch=epoch, loss=loss, img_size=args.img_size,
                lr=args.lr, seed=args.seed, bank_full=full))
        history.append(dict(epoch=epoch, loss=loss, lr=args.lr, seconds=time.perf_counter() - t0,
                            bank_full=int(full), saved=int(keep)))
        atomic_write_csv(log_path, history, LOG_FIELDS, float_format="{:.6g}")
        note = ("  saved (memory bank still filling)" if not full else "  * saved") if keep else ""
        print(f"epoch[{epoch:02d}] loss:[{loss:.6f}]  ({history[-1]['seconds']:.1f} s){note}")
    plot_loss(plot_path, history, f"{args.model} {args.layer} on {tag}", saved[0])
    print(f"outputs:\n  weights (epoch {saved[0]}, loss {saved[1]:.4f})  {args.save}\n"
          f"  loss log   {log_path}\n  loss curve {plot_path}\n"
          f"next: python run.py --model {args.model} --dataset {args.dataset} --mode train --pretrain "
          f"--checkpoint {args.save}")
    return 0
