"""Where a run's outputs go and how they are written (names as the original's, plus the dataset).

* ``checkpoints/{model}/{tag}.pkl``: best validation-mIoU weights; ``{tag}-last.pkl``: the state
  ``--resume`` continues from (weights, optimizer, epoch, best score, history), rewritten every epoch;
* ``{result_dir}/{run}.json``: test metrics; ``{result_dir}/{run}-cases.csv``: one row per case (patient /
  volume / image) and foreground class;
* ``{result_dir}/{tag}-log.csv``: one row per epoch; ``{result_dir}/tensorboard/{tag}/``: TensorBoard events;
  ``{result_dir}/{model}-{dataset}-{opt}-{loss}-{epochs}.png``: curves;
* ``test_performance/{run}/<stem>.png``: overlays; predict mode adds ``masks/`` and ``overlays/`` folders
  (and ``<case>_pred.nii.gz`` label volumes when the input is NIfTI);

where ``tag = {model}-{dataset}-{opt}-{loss}-stn{S}-pretrain{P}-aug{A}`` and
``run = {model}-{dataset}-{opt}-{loss}-{epochs}-{mode}-stn{S}-pretrain{P}-aug{A}``. Every file is written
atomically (``utils/atomic.py``).
"""
import json
import os

import numpy as np

from advance.augment import GEOMETRIC
from dataset import dataset_tag
from utils import runtime
from utils.atomic import atomic_write_csv, atomic_write_text

SUMMARY_KEYS = ("mDice", "mIoU", "dice_fg", "iou_fg", "dice_case", "dice_slice", "mPrecision", "mRecall", "asd",
                "hd95")
CASE_FIELDS = ("case", "class_id", "dice", "true_pixels", "predicted_pixels", "n_images")


class RunPaths:
    """Every output path of one configuration."""

    def __init__(self, args):
        self.dataset = dataset_tag(args.dataset) if args.dataset else "none"
        flags = f"stn{args.stn}-pretrain{args.pretrain}-aug{args.aug}{sas_suffix(args)}"
        base = f"{args.model}-{self.dataset}-{args.optimizer}-{args.loss}"
        self.tag = f"{base}-{flags}"
        self.best = os.path.join("checkpoints", args.model, f"{self.tag}.pkl")
        self.last = os.path.join("checkpoints", args.model, f"{self.tag}-last.pkl")
        self.log = os.path.join(args.result_dir, f"{self.tag}-log.csv")
        self.curves = os.path.join(args.result_dir, f"{base}-{args.epochs}.png")
        self.run = f"{base}-{args.epochs}-{args.mode}-{flags}"
        self.result = os.path.join(args.result_dir, f"{self.run}.json")
        self.cases = os.path.join(args.result_dir, f"{self.run}-cases.csv")
        self.tensorboard = os.path.join(args.result_dir, "tensorboard", self.tag)
        self.overlays = os.path.join("test_performance", self.run)


def sas_suffix(args):
    """Name suffix for the non-default SAS options (none by default, so the original's names are kept)."""
    parts = []
    if args.stn and args.stn_size:
        parts.append(f"stnsize{args.stn_size}")
    if args.stn and args.stn_warp_mask:
        parts.append("warpmask")
    geo = args.geo_parts
    if geo:
        parts.append("geo" + "+".join(g for g in GEOMETRIC.names(sort=False) if g in geo))
    return "".join(f"-{p}" for p in parts)


def checkpoint_meta(args, paths, **extra):
    """The ``__meta__`` entry of the checkpoints a training run writes."""
    return dict(model=args.model, dataset=paths.dataset, n_classes=args.class_num, stn=args.stn,
                img_size=args.img_size, stn_size=args.stn_size, stn_warp_mask=args.stn_warp_mask,
                geo_aug=args.geo_aug, **extra)


def result_meta(args, paths, total, trainable, **extra):
    """The ``run`` block of a result JSON: the configuration, parameter counts, the device, and ``extra``."""
    return {"run": dict(model=args.model, dataset=paths.dataset, mode=args.mode, optimizer=args.optimizer,
                        loss=args.loss, lr=args.lr, w=args.bce_weight, epochs=args.epochs,
                        batch_size=args.batch_size, img_size=args.img_size, stn=args.stn, aug=args.aug,
                        pretrain=args.pretrain, seed=args.seed, class_num=args.class_num,
                        params=total, params_trainable=trainable, device=runtime.describe(), **extra)}


def write_cases(path, rows):
    """One CSV row per case and foreground class (Dice of the case's pooled slices = volume Dice)."""
    atomic_write_csv(path, rows, CASE_FIELDS, formats={"dice": "{:.6f}"})


def _plain(x):
    """JSON-ready copies: NumPy numbers as Python numbers, NaN/inf as null."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, (float, np.floating)):
        return float(x) if np.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


def write_json(path, result):
    atomic_write_text(json.dumps(_plain(result), indent=2) + "\n", path)


def print_metrics(result, title):
    shown = "  ".join(f"{k} {result[k]:.4f}" for k in SUMMARY_KEYS if isinstance(result.get(k), float))
    print(f"{title}: {shown}")


def print_outputs(items):
    """The closing list of a mode: ``items`` = [(label, path), ...]."""
    print("outputs:\n" + "\n".join(f"  {label:<16} {path}" for label, path in items))


def overlay_legend(n_classes):
    return "ground truth red, prediction cyan" if n_classes == 2 else "ground truth left, prediction right"
