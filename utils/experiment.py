"""The four modes of run.py (train, test, predict, debug) on top of the library's parts.

Output files (names as the original's, plus the dataset):

* ``checkpoints/{model}/{tag}.pkl``: best validation-mIoU weights; ``{tag}-last.pkl``: the state
  ``--resume`` continues from (weights, optimizer, epoch, best score, history), rewritten every epoch;
* ``{result_dir}/{model}-{dataset}-{opt}-{loss}-{epochs}-{mode}-stn..-pretrain..-aug...json``: test metrics;
* ``{result_dir}/{tag}-log.csv``: one row per epoch; ``{result_dir}/{model}-{dataset}-{opt}-{loss}-{epochs}.png``:
  curves;
* ``test_performance/{run}/<stem>.png``: overlays; predict mode adds ``masks/`` and ``overlays/`` folders.

where ``tag = {model}-{dataset}-{opt}-{loss}-stn{S}-pretrain{P}-aug{A}``.
"""
import csv
import io
import json
import os
import time

import cv2
import numpy as np
from tqdm import tqdm

from utils import runtime
import jittor as jt

from dataset import SegDataset, check_samples, dataset_tag, load_split
from dataset.base import Sample
from dataset.io import IMAGE_EXTS, read_image
from loss import build_loss
from model import check_input_size, count_parameters, create_model
from utils import checkpoint as ckpt
from utils.engine import OPTIMIZERS, evaluate, make_optimizer, poly_lr, predict_batches, seed_epoch, train_one_epoch
from utils.errors import CheckpointError, ConfigError, DataError, TrainingDiverged
from utils.visualize import overlay, plot_curves, save_mask, save_rgb

__all__ = ["OPTIMIZERS", "run"]

LOG_FIELDS = ["epoch", "lr", "train_loss", "mIoU", "mDice", "dice_fg", "mAcc", "seconds"]


# --------------------------------------------------------------------------------------------------- names
class RunPaths:
    """Every output path of one configuration."""

    def __init__(self, args):
        self.dataset = dataset_tag(args.dataset) if args.dataset else "none"
        flags = f"stn{args.stn}-pretrain{args.pretrain}-aug{args.aug}"
        base = f"{args.model}-{self.dataset}-{args.optimizer}-{args.loss}"
        self.tag = f"{base}-{flags}"
        self.best = os.path.join("checkpoints", args.model, f"{self.tag}.pkl")
        self.last = os.path.join("checkpoints", args.model, f"{self.tag}-last.pkl")
        self.log = os.path.join(args.result_dir, f"{self.tag}-log.csv")
        self.curves = os.path.join(args.result_dir, f"{base}-{args.epochs}.png")
        self.run = f"{base}-{args.epochs}-{args.mode}-{flags}"
        self.result = os.path.join(args.result_dir, f"{self.run}.json")
        self.overlays = os.path.join("test_performance", self.run)


# --------------------------------------------------------------------------------------------------- data
def _check_size(args, sizes, what):
    if len(sizes) > 1:
        shown = ", ".join(f"{h}x{w}" for h, w in sorted(sizes)[:4])
        raise DataError(f"the {what} images have different sizes ({shown}, ...); pass --img-size N to resize "
                        "them to N x N")
    for h, w in sizes:
        check_input_size(args.model, h, w)


def make_split(args, split, train=False):
    """The :class:`SegDataset` of ``split`` (checked: files, sizes, model divisibility)."""
    samples = load_split(args.dataset, split, args.data_root)
    _check_size(args, check_samples(samples, args.img_size, what=f"{split} split"), split)
    augment = None
    if train and args.aug:
        from advance.augment import color_augmentation
        augment = color_augmentation()
    data = SegDataset(samples, n_classes=args.class_num, img_size=args.img_size, augment=augment,
                      batch_size=args.batch_size, shuffle=train)
    return data.preload(desc=f"reading the {split} split")


# --------------------------------------------------------------------------------------------------- model
def build_model(args):
    if args.class_num < 2:
        raise ConfigError(f"-c must be at least 2 (background and one class), got {args.class_num}")
    model = create_model(args.model, in_channels=3, n_classes=args.class_num)
    if args.pretrain:
        meta = ckpt.load_weights(model, args.checkpoint, expected_model=args.model)
        print(f"loaded self-supervised weights {args.checkpoint}" + (f" ({meta.get('kind')})" if meta.get("kind") else ""))
    if args.stn:
        try:
            from advance.stn import STNWrapper
        except ImportError:
            raise ConfigError("--stn needs advance/stn.py, which this version does not have") from None
        model = STNWrapper(model)
    return model


def _meta(args, paths, **extra):
    return dict(model=args.model, dataset=paths.dataset, n_classes=args.class_num, stn=args.stn,
                img_size=args.img_size, **extra)


def _load_for_inference(args, paths, model):
    path = args.load or paths.best
    if not os.path.isfile(path):
        raise CheckpointError(f"no weights at {path}: train this configuration first (--mode train) "
                              "or pass --load FILE")
    ckpt.load_weights(model, path, expected_model=args.model)
    return path


# --------------------------------------------------------------------------------------------------- logs
def _write_log(path, history):
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=LOG_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for row in history:
        writer.writerow({k: (f"{row[k]:.6g}" if isinstance(row.get(k), float) else row.get(k)) for k in LOG_FIELDS})
    ckpt.atomic_write_text(buf.getvalue(), path)


def _write_json(path, result):
    def clean(x):
        if isinstance(x, dict):
            return {str(k): clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        if isinstance(x, (float, np.floating)):
            return float(x) if np.isfinite(x) else None
        if isinstance(x, np.integer):
            return int(x)
        return x
    ckpt.atomic_write_text(json.dumps(clean(result), indent=2) + "\n", path)


def _print_metrics(result, title):
    keys = ["mDice", "mIoU", "dice_fg", "iou_fg", "dice_case", "mPrecision", "mRecall", "asd", "hd95"]
    shown = "  ".join(f"{k} {result[k]:.4f}" for k in keys if isinstance(result.get(k), float))
    print(f"{title}: {shown}")


# --------------------------------------------------------------------------------------------------- modes
def _test_and_paint(args, paths, model, data, mode_paths):
    """Test metrics to JSON, overlays of every test image; returns the result dict."""
    os.makedirs(mode_paths.overlays, exist_ok=True)

    def paint(index, pred):
        image, mask = data.load(index)
        save_rgb(os.path.join(mode_paths.overlays, f"{data.samples[index].stem}.png"), overlay(image, pred, mask))

    result = evaluate(model, data, args.class_num, surface=True, desc="test", on_prediction=paint)
    return result


def train(args):
    paths = RunPaths(args)
    train_data = make_split(args, "train", train=True)
    val_data = make_split(args, "val")
    test_data = make_split(args, "test")
    model = build_model(args)
    criterion = build_loss(args.loss, args.class_num, args.bce_weight)
    optimizer = make_optimizer(args.optimizer, model.parameters(), args.lr)
    total, trainable = count_parameters(model)

    start_epoch, best_miou, best_epoch, history = 1, -1.0, 0, []
    if args.resume:
        state = ckpt.load_file(paths.last)
        ckpt.check_state(model, state["model"], paths.last, args.model)
        model.load_parameters(state["model"])
        ckpt.load_optimizer_state(optimizer, state["optimizer"])
        start_epoch = state["epoch"] + 1
        best_miou, best_epoch, history = state["best_miou"], state["best_epoch"], state["history"]
        print(f"resuming {paths.last} after epoch {state['epoch']} (best mIoU {best_miou:.4f} at epoch {best_epoch})")
    elif os.path.exists(paths.last):
        print(f"note: starting a new run; {paths.last} (an earlier run's state) will be replaced")

    print(f"{runtime.describe()}\nmodel {args.model}: {total:,} parameters ({trainable:,} trainable); "
          f"train {len(train_data.samples)} / val {len(val_data.samples)} / test {len(test_data.samples)} images; "
          f"loss {args.loss}; {args.optimizer} lr {args.lr:g}, batch {args.batch_size}, {args.epochs} epochs")
    iters = len(train_data)
    for epoch in range(start_epoch, args.epochs + 1):
        seed_epoch(args.seed, epoch, [train_data])
        schedule = None
        if args.poly:
            done = (epoch - 1) * iters
            schedule = lambda it, done=done: poly_lr(args.lr, done + it, args.epochs * iters)  # noqa: E731
        t0 = time.perf_counter()
        try:
            loss = train_one_epoch(model, train_data, criterion, optimizer, epoch, schedule)
        except TrainingDiverged as e:
            kept = f"; the last good weights are in {paths.last} (epoch {epoch - 1})" if epoch > 1 else ""
            raise TrainingDiverged(f"{e}{kept}. Lower the learning rate (-l) or check the data.") from None
        seconds = time.perf_counter() - t0
        val = evaluate(model, val_data, args.class_num, surface=False, desc=f"val epoch {epoch}")
        row = dict(epoch=epoch, lr=float(optimizer.lr), train_loss=loss, seconds=seconds,
                   **{k: val[k] for k in ("mIoU", "mDice", "dice_fg", "mAcc")})
        history.append(row)
        improved = val["mIoU"] > best_miou
        if improved:
            best_miou, best_epoch = val["mIoU"], epoch
            ckpt.save_weights(model, paths.best, _meta(args, paths, epoch=epoch, mIoU=best_miou))
        ckpt.atomic_save({"model": ckpt.model_state(model), "optimizer": ckpt.optimizer_state(optimizer),
                          "epoch": epoch, "best_miou": best_miou, "best_epoch": best_epoch, "history": history,
                          ckpt.META_KEY: _meta(args, paths, epochs=args.epochs)}, paths.last)
        _write_log(paths.log, history)
        print(f"epoch {epoch}/{args.epochs}: loss {loss:.4f}  val mIoU {val['mIoU']:.4f}  mDice {val['mDice']:.4f}  "
              f"fg Dice {val['dice_fg']:.4f}  ({seconds:.1f} s){'  * best' if improved else ''}")

    if history:
        plot_curves(history, paths.curves, title=paths.tag)
    ckpt.load_weights(model, paths.best, expected_model=args.model)
    result = _test_and_paint(args, paths, model, test_data, paths)
    seconds = [h["seconds"] for h in history]
    result.update(_result_meta(args, paths, total, trainable, best_epoch=best_epoch,
                               train_s_per_epoch=float(np.mean(seconds)) if seconds else None))
    _write_json(paths.result, result)
    _print_metrics(result, f"test ({len(test_data.samples)} images, best epoch {best_epoch})")
    print("outputs:\n"
          f"  best weights     {paths.best}\n"
          f"  resume state     {paths.last}\n"
          f"  metrics JSON     {paths.result}\n"
          f"  epoch log        {paths.log}\n"
          f"  curves           {paths.curves}\n"
          f"  overlays         {paths.overlays}/ (ground truth red, prediction cyan)")
    return 0


def _result_meta(args, paths, total, trainable, **extra):
    return {"run": dict(model=args.model, dataset=paths.dataset, mode=args.mode, optimizer=args.optimizer,
                        loss=args.loss, lr=args.lr, w=args.bce_weight, epochs=args.epochs,
                        batch_size=args.batch_size, img_size=args.img_size, stn=args.stn, aug=args.aug,
                        pretrain=args.pretrain, seed=args.seed, class_num=args.class_num,
                        params=total, params_trainable=trainable, device=runtime.describe(), **extra)}


def test(args):
    paths = RunPaths(args)
    data = make_split(args, "test")
    model = build_model(args)
    weights = _load_for_inference(args, paths, model)
    total, trainable = count_parameters(model)
    result = _test_and_paint(args, paths, model, data, paths)
    result.update(_result_meta(args, paths, total, trainable, weights=weights))
    _write_json(paths.result, result)
    _print_metrics(result, f"test ({len(data.samples)} images)")
    print(f"outputs:\n  metrics JSON     {paths.result}\n  overlays         {paths.overlays}/")
    return 0


def _input_samples(folder):
    if not os.path.isdir(folder):
        raise DataError(f"--input {folder}: not a folder")
    names = sorted(n for n in os.listdir(folder) if os.path.splitext(n)[1].lower() in IMAGE_EXTS)
    if not names:
        raise DataError(f"--input {folder} holds no images ({', '.join(IMAGE_EXTS)})")
    return [Sample(stem=os.path.splitext(n)[0], image=os.path.join(folder, n)) for n in names]


def predict(args):
    paths = RunPaths(args)
    if args.input:
        samples = _input_samples(args.input)
        out_dir = f"{paths.overlays}-{os.path.basename(os.path.normpath(args.input))}"
    else:
        if not args.dataset:
            raise ConfigError("predict mode needs --input DIR or --dataset (its test split is segmented)")
        samples = load_split(args.dataset, "test", args.data_root)
        out_dir = paths.overlays
    sizes = check_samples(samples, args.img_size, need_masks=False, what="input")
    for h, w in sizes:
        check_input_size(args.model, h, w)
    model = build_model(args)
    _load_for_inference(args, paths, model)
    data = SegDataset(samples, n_classes=args.class_num, img_size=args.img_size, batch_size=1, need_masks=False)
    for indices, preds, _ in predict_batches(model, data, desc="predict"):
        for idx, pred in zip(indices, preds):
            s = data.samples[int(idx)]
            image = read_image(s.image)
            if pred.shape != image.shape[:2]:
                pred = cv2.resize(pred.astype(np.uint8), (image.shape[1], image.shape[0]),
                                  interpolation=cv2.INTER_NEAREST).astype(np.int64)
            save_mask(os.path.join(out_dir, "masks", f"{s.stem}.png"), pred, args.class_num)
            save_rgb(os.path.join(out_dir, "overlays", f"{s.stem}.png"), overlay(image, pred))
    print(f"segmented {len(samples)} images:\n  masks     {out_dir}/masks/ "
          f"({'0/255' if args.class_num == 2 else 'class ids'})\n  overlays  {out_dir}/overlays/ (prediction cyan)")
    return 0


def debug(args):
    model = build_model(args)
    size = args.img_size or 512
    check_input_size(args.model, size, size)
    model.eval()
    with jt.no_grad():
        out = model(jt.ones((2, 3, size, size)))
    model.train()
    total, trainable = count_parameters(model)
    print(f"model {args.model}: input (2, 3, {size}, {size}) -> output {tuple(out.shape)}")
    print(f"parameters: {total:,} total (BatchNorm statistics included), {trainable:,} trainable")
    print(f"{'submodule':<24}{'parameters':>14}")
    for name, child in _children(model):
        print(f"{name:<24}{count_parameters(child)[0]:>14,}")
    return 0


def _children(model):
    """Direct submodules of a Jittor module, in definition order."""
    from jittor import nn
    return [(k, v) for k, v in vars(model).items() if isinstance(v, nn.Module)]


MODES = {"train": train, "test": test, "predict": predict, "debug": debug}


def run(args):
    if args.mode != "debug" and not args.dataset and not (args.mode == "predict" and args.input):
        raise ConfigError(f"--dataset is required in {args.mode} mode")
    for flag, value in (("-e", args.epochs), ("-b", args.batch_size)):
        if value < 1:
            raise ConfigError(f"{flag} must be at least 1, got {value}")
    if args.lr <= 0:
        raise ConfigError(f"-l must be positive, got {args.lr}")
    if args.img_size is not None and args.img_size < 1:
        raise ConfigError(f"--img-size must be positive, got {args.img_size}")
    build_loss(args.loss, args.class_num, args.bce_weight)  # validate names and -w before any work
    if args.mode == "train":
        jt.set_global_seed(args.seed)
    return MODES[args.mode](args)
