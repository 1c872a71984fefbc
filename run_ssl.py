#!/usr/bin/env python3
"""JMedSeg-JT contrastive self-supervised pretraining (MoCo, memory bank, InfoNCE).

    python run_ssl.py --model unet --layer down4 --dataset demo --save checkpoints/unet-ssl.pkl -e 20 --lr 1e-5
    python run.py --model unet --dataset demo --mode train --pretrain --checkpoint checkpoints/unet-ssl.pkl

The network is read at ``--layer`` (``down4`` for unet, ``aspp`` for deeplab) through a projection head and
trained on two augmented views of every training image.  ``--save`` receives the segmentation network's weights
of the epoch with the lowest loss once the memory bank holds only real keys (before that, of the latest epoch;
``--keep last``: always the latest), in the checkpoint format of run.py (kind "ssl"); next to it go
``{save}-log.csv`` (loss per epoch) and ``{save}-loss.png``.  See advance/ssl.py and README.
"""
import argparse
import sys

from utils import runtime


def _early_flags(argv):
    """``--cuda`` and ``-v`` must be known before Jittor is imported."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--cuda", action="store_true")
    pre.add_argument("-v", "--verbose", action="store_true")
    known, _ = pre.parse_known_args(argv)
    return known


def build_parser(models, datasets):
    p = argparse.ArgumentParser(
        description="Contrastive self-supervised pretraining of a segmentation network (Jittor).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", default="unet", choices=models, metavar="MODEL", help=f"network: {', '.join(models)}")
    p.add_argument("--dataset", required=True,
                   help=f"{', '.join(datasets)}, or a folder with images/ and masks/ (its train split is used)")
    p.add_argument("--save", default="checkpoints/ssl.pkl", help="where the pretrained weights go")
    p.add_argument("-e", "--epochs", type=int, default=20)
    p.add_argument("-c", "--class-num", dest="class_num", type=int, default=2,
                   help="classes of the segmentation network (must match the later run.py -c)")
    p.add_argument("-b", "--batch-size", type=int, default=8)
    p.add_argument("--channel", dest="embedding_channel", type=int, default=None,
                   help="channels of --layer's output (checked; found automatically when left out)")
    p.add_argument("--layer", default="down4", help="submodule whose output is embedded (unet: down4, deeplab: aspp)")
    p.add_argument("--lr", type=float, default=1e-5)
    p.add_argument("--pretrain", action="store_true", help="start from the weights in --checkpoint")
    # Additions.
    p.add_argument("--checkpoint", default="checkpoints/ssl.pkl", help="weights to start from with --pretrain")
    p.add_argument("--momentum", type=float, default=0.999,
                   help="momentum of the key encoder; 0 = keys from the query encoder itself (the original)")
    p.add_argument("--keep", default="best", choices=["best", "last"],
                   help="which epoch's weights --save receives: the lowest loss once the memory bank is full "
                        "(the original's intent), or the last (MoCo's practice)")
    p.add_argument("--queue-size", type=int, default=1024, help="negatives in the memory bank (K)")
    p.add_argument("--temperature", type=float, default=0.07, help="InfoNCE temperature (T)")
    p.add_argument("--data-root", default="./data", help="folder holding the original datasets (and demo)")
    p.add_argument("--img-size", type=int, help="resize images to N x N")
    p.add_argument("--seed", type=int, default=0, help="seed of shuffling, augmentation and initialisation")
    p.add_argument("--cuda", action="store_true", help="run on the GPU")
    p.add_argument("-v", "--verbose", action="store_true", help="show Jittor's own log lines")
    return p


def _paths(save):
    import os
    stem = os.path.splitext(save)[0]
    return f"{stem}-log.csv", f"{stem}-loss.png"


def _write_log(path, history):
    import csv
    import io
    from utils import checkpoint as ckpt
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["epoch", "loss", "lr", "seconds", "bank_full", "saved"])
    w.writeheader()
    for row in history:
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    ckpt.atomic_write_text(buf.getvalue(), path)


def _plot(path, history, title, saved_epoch):
    import os
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.plot([h["epoch"] for h in history], [h["loss"] for h in history], marker="o", ms=3, label="InfoNCE loss")
    row = next(h for h in history if h["epoch"] == saved_epoch)
    ax.plot([saved_epoch], [row["loss"]], "r*", ms=10, label=f"saved (epoch {saved_epoch})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def pretrain(args):
    import time

    import numpy as np

    import jittor as jt
    from advance.augment import ssl_augmentation
    from advance.ssl import MoCoLearner, TwoViewDataset
    from dataset import SegDataset, check_samples, dataset_tag, load_split
    from model import check_input_size, create_model
    from utils import checkpoint as ckpt
    from utils.engine import seed_epoch
    from utils.errors import ConfigError, DataError

    for flag, value in (("-e", args.epochs), ("-b", args.batch_size)):
        if value < 1:
            raise ConfigError(f"{flag} must be at least 1, got {value}")
    if args.lr <= 0:
        raise ConfigError(f"--lr must be positive, got {args.lr}")
    if args.temperature <= 0:
        raise ConfigError(f"--temperature must be positive, got {args.temperature}")
    if args.img_size is not None and args.img_size < 1:
        raise ConfigError(f"--img-size must be positive, got {args.img_size}")
    jt.set_global_seed(args.seed)

    samples = load_split(args.dataset, "train", args.data_root)
    sizes = check_samples(samples, args.img_size, need_masks=False, what="train split")
    if len(sizes) > 1:
        raise DataError("the training images have different sizes; pass --img-size N to resize them to N x N")
    for h, w in sizes:
        check_input_size(args.model, h, w)
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
    log_path, plot_path = _paths(args.save)
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
        _write_log(log_path, history)
        note = ("  saved (memory bank still filling)" if not full else "  * saved") if keep else ""
        print(f"epoch[{epoch:02d}] loss:[{loss:.6f}]  ({history[-1]['seconds']:.1f} s){note}")
    _plot(plot_path, history, f"{args.model} {args.layer} on {tag}", saved[0])
    print(f"outputs:\n  weights (epoch {saved[0]}, loss {saved[1]:.4f})  {args.save}\n"
          f"  loss log   {log_path}\n  loss curve {plot_path}\n"
          f"next: python run.py --model {args.model} --dataset {args.dataset} --mode train --pretrain "
          f"--checkpoint {args.save}")
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    early = _early_flags(argv)
    runtime.configure(cuda=early.cuda, verbose=early.verbose)
    from utils.errors import UserError
    try:
        runtime.init(cuda=early.cuda, verbose=early.verbose)
        from dataset import list_datasets
        from model import list_models
        args = build_parser(list_models(), list_datasets()).parse_args(argv)
        return pretrain(args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
