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
``run = {model}-{dataset}-{opt}-{loss}-{epochs}-{mode}-stn{S}-pretrain{P}-aug{A}``; a distilled student's
names (``--mode distill``, or ``--kd`` with ``--teacher`` in test/predict/robust) end in
``-{methods}-from-{teacher}`` (``-kd+at-from-unet``), its curves too. Every file is written atomically
(``utils/atomic.py``).
"""
import json
import os

import numpy as np

from advance.augment import GEOMETRIC
from advance.distill import parse_layers, parse_methods, parse_values
from dataset import DATASETS, class_names, dataset_tag
from utils import checkpoint as ckpt
from utils import runtime
from utils.atomic import atomic_write_csv, atomic_write_text
from utils.errors import OutputError

SUMMARY_KEYS = ("mDice", "mIoU", "dice_fg", "iou_fg", "dice_case", "dice_slice", "mPrecision", "mRecall", "asd",
                "hd95", "volume_dice", "volume_hd95")
CASE_FIELDS = ("case", "class_id", "dice", "true_pixels", "predicted_pixels", "n_images")


class RunPaths:
    """Every output path of one configuration."""

    def __init__(self, args):
        self.dataset = dataset_tag(args.dataset) if args.dataset else "none"
        kd = distill_suffix(args)
        flags = f"stn{args.stn}-pretrain{args.pretrain}-aug{args.aug}{sas_suffix(args)}{kd}"
        base = f"{args.model}-{self.dataset}-{args.optimizer}-{args.loss}"
        self.tag = f"{base}-{flags}"
        self.best = os.path.join("checkpoints", args.model, f"{self.tag}.pkl")
        self.last = os.path.join("checkpoints", args.model, f"{self.tag}-last.pkl")
        self.lock = os.path.join("checkpoints", args.model, f"{self.tag}.lock")  # while a training runs
        self.log = os.path.join(args.result_dir, f"{self.tag}-log.csv")
        self.curves = os.path.join(args.result_dir, f"{base}-{args.epochs}{kd}.png")
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


def distill_suffix(args):
    """``-{methods}-from-{teacher}`` for a distilled student ('' otherwise, so plain names are kept)."""
    if not (getattr(args, "kd", None) and getattr(args, "teacher", None)):
        return ""
    return f"-{'+'.join(parse_methods(args.kd))}-from-{args.teacher}"


def distill_config(args):
    """The distillation settings that decide a distilled student's weights ({} for a plain run)."""
    if getattr(args, "mode", None) != "distill":
        return {}
    methods = parse_methods(args.kd)
    return dict(teacher=args.teacher, teacher_load=_absolute(args.teacher_load), kd=methods,
                kd_weight=parse_values(args.kd_weight, methods, "--kd-weight"),
                kd_tau=parse_values(args.kd_tau, methods, "--kd-tau"),
                kd_layers=[f"{s}:{t}" for s, t in parse_layers(args.kd_layers)])


def _absolute(path):
    return os.path.abspath(path) if path else None


def dataset_identity(args):
    """The dataset as a training run saw it: a named dataset with its data root, or a folder's absolute path
    (two folders that share a base name, and so the output names, are still told apart)."""
    if args.dataset in DATASETS:
        return f"{args.dataset} under {os.path.abspath(args.data_root)}"
    return os.path.abspath(args.dataset)


def run_config(args):
    """Every setting that decides a training run's weights; stored in its checkpoints, so that a new run of the
    same output names can tell whether it would replace the results of other settings."""
    config = dict(model=args.model, dataset=dataset_identity(args), class_num=args.class_num,
                  label_map=args.label_map, img_size=args.img_size, optimizer=args.optimizer, lr=args.lr,
                  poly=args.poly, loss=args.loss, w=args.bce_weight, epochs=args.epochs, batch_size=args.batch_size,
                  seed=args.seed, aug=args.aug, geo_aug=sorted(args.geo_parts), stn=args.stn,
                  stn_size=args.stn_size, stn_warp_mask=args.stn_warp_mask,
                  pretrain=_absolute(args.checkpoint) if args.pretrain else None,
                  backbone_weights=_absolute(args.backbone_weights))
    config.update(distill_config(args))  # nothing for plain runs: their recorded settings stay as they were
    return config


def check_earlier_run(args, paths):
    """Refuse (:class:`OutputError`) to start a training run that would replace the best weights of an earlier
    run made with other settings, unless ``--overwrite``; the same settings again (a seeded run reproduces its
    weights) may replace them."""
    if args.overwrite or not os.path.isfile(paths.best):
        return
    meta = ckpt.read_meta(paths.best)
    before, now = meta.get("config"), run_config(args)
    if before == now:
        print(f"note: {paths.best} holds an earlier run of these same settings; this run replaces it")
        return
    what = f" (epoch {meta['epoch']}, val mIoU {meta['mIoU']:.4f})" if "epoch" in meta and "mIoU" in meta else ""
    if isinstance(before, dict):
        changed = [f"{k} {before.get(k)!r} -> {now[k]!r}" for k in now if before.get(k) != now[k]]
        settings = f"other settings ({'; '.join(changed)})"
    else:
        settings = "settings that were not recorded"
    raise OutputError(f"{paths.best} holds the best weights{what} of an earlier run with {settings}, and this run "
                      "would replace them and its results. Pass --overwrite to replace them, --resume to continue "
                      "that run, or train in another folder (outputs go to the current folder).")


def checkpoint_meta(args, paths, **extra):
    """The ``__meta__`` entry of the checkpoints a training run writes."""
    return dict(model=args.model, dataset=paths.dataset, n_classes=args.class_num, stn=args.stn,
                img_size=args.img_size, stn_size=args.stn_size, stn_warp_mask=args.stn_warp_mask,
                geo_aug=args.geo_aug, config=run_config(args), **extra)


def prediction_folder(paths, source):
    """The folder predictions of ``source`` (an input folder or volume) go to: ``{run}-{source name}``, or, when
    that folder holds the predictions of another source with the same name, ``-2``, ``-3``, ... (recorded in
    each folder's ``source.json``), so one input's masks never overwrite another's."""
    name = os.path.basename(os.path.normpath(source)).split(".nii")[0]
    source = os.path.abspath(source)
    for k in range(1, 1000):
        folder = f"{paths.overlays}-{name}" + (f"-{k}" if k > 1 else "")
        record = os.path.join(folder, "source.json")
        if not os.path.exists(folder):
            atomic_write_text(json.dumps({"input": source}) + "\n", record)
            return folder
        try:
            with open(record) as f:
                if json.load(f).get("input") == source:
                    return folder
        except (OSError, ValueError):
            pass  # a folder of unknown origin: never written into
    raise OutputError(f"too many prediction folders for {name!r} under test_performance/")


def result_meta(args, paths, total, trainable, **extra):
    """The ``run`` block of a result JSON: the configuration, parameter counts, the device, and ``extra``."""
    run = dict(model=args.model, dataset=paths.dataset, mode=args.mode, optimizer=args.optimizer,
               loss=args.loss, lr=args.lr, w=args.bce_weight, epochs=args.epochs,
               batch_size=args.batch_size, img_size=args.img_size, stn=args.stn, aug=args.aug,
               pretrain=args.pretrain, seed=args.seed, class_num=args.class_num,
               params=total, params_trainable=trainable, device=runtime.describe(), **extra)
    if distill_suffix(args):
        run.update(kd="+".join(parse_methods(args.kd)), teacher=args.teacher)
    names = class_names(args.dataset) if args.dataset else None
    if names and len(names) == args.class_num:
        run["class_names"] = list(names)
    return {"run": run}


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
    if len(result.get("per_class_volume") or ()) > 1:  # two classes: dice_case already is the volume Dice
        print(volume_table(result))


def volume_table(result):
    """The per-class volume metrics as TransUNet's papers print them: a row of mean Dice and HD95, then each
    class's Dice (class names from the run block when the dataset names them)."""
    names = (result.get("run") or {}).get("class_names")
    per = result["per_class_volume"]
    classes = sorted(per, key=int)
    label = [names[int(c)] if names else f"class {c}" for c in classes]

    def cell(v, digits=4):
        return "—" if v is None else f"{v:.{digits}f}"
    lines = [f"per volume ({result.get('n_volumes')} volumes): mean over volumes, then over classes",
             "| Dice | HD95 | " + " | ".join(label) + " |", "|---" * (len(classes) + 2) + "|",
             f"| {cell(result.get('volume_dice'))} | {cell(result.get('volume_hd95'), 2)} | "
             + " | ".join(cell(per[c]["dice"]) for c in classes) + " |"]
    return "\n".join(lines)


def print_outputs(items):
    """The closing list of a mode: ``items`` = [(label, path), ...]."""
    print("outputs:\n" + "\n".join(f"  {label:<16} {path}" for label, path in items))


def overlay_legend(n_classes):
    return "ground truth red, prediction cyan" if n_classes == 2 else "ground truth left, prediction right"
