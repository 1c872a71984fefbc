"""The four modes of run.py (train, test, predict, debug) on top of the library's parts.

Output files (names as the original's, plus the dataset):

* ``checkpoints/{model}/{tag}.pkl``: best validation-mIoU weights; ``{tag}-last.pkl``: the state
  ``--resume`` continues from (weights, optimizer, epoch, best score, history), rewritten every epoch;
* ``{result_dir}/{model}-{dataset}-{opt}-{loss}-{epochs}-{mode}-stn..-pretrain..-aug...json``: test metrics;
* ``{result_dir}/{run}-cases.csv``: one row per case (patient / volume / image) and foreground class;
* ``{result_dir}/{tag}-log.csv``: one row per epoch; ``{result_dir}/tensorboard/{tag}/``: TensorBoard events;
  ``{result_dir}/{model}-{dataset}-{opt}-{loss}-{epochs}.png``: curves;
* ``test_performance/{run}/<stem>.png``: overlays; predict mode adds ``masks/`` and ``overlays/`` folders
  (and ``<case>_pred.nii.gz`` label volumes when the input is NIfTI).

where ``tag = {model}-{dataset}-{opt}-{loss}-stn{S}-pretrain{P}-aug{A}``.
"""
import csv
import json
import os
import time

import cv2
import numpy as np
from tqdm import tqdm

from utils import runtime
import jittor as jt

from dataset import SegDataset, check_samples, dataset_tag, load_split
from dataset.base import Sample, parse_label_map
from dataset.io import IMAGE_EXTS, read_image
from dataset.volumes import is_volume, list_volumes, load_volume, read_slicing, save_label_volume, window_volume
from loss import build_loss
from model import check_input_size, count_parameters, create_model
from utils import checkpoint as ckpt
from utils.engine import (OPTIMIZERS, evaluate, make_optimizer, poly_lr, predict_batches, predict_probs, seed_epoch,
                          train_one_epoch)
from utils import distributed as dist
from utils.errors import CheckpointError, ConfigError, DataError, TrainingDiverged
from utils.logs import TensorBoard, write_epoch_csv
from utils.metrics import Evaluator
from utils.visualize import overlay, plot_curves, save_mask, save_rgb

__all__ = ["OPTIMIZERS", "run"]


# --------------------------------------------------------------------------------------------------- names
class RunPaths:
    """Every output path of one configuration."""

    def __init__(self, args):
        self.dataset = dataset_tag(args.dataset) if args.dataset else "none"
        flags = f"stn{args.stn}-pretrain{args.pretrain}-aug{args.aug}{_sas_suffix(args)}"
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


def _sas_suffix(args):
    """Name suffix for the non-default SAS options (none by default, so the original's names are kept)."""
    parts = []
    if getattr(args, "stn", False) and getattr(args, "stn_size", None):
        parts.append(f"stnsize{args.stn_size}")
    if getattr(args, "stn", False) and getattr(args, "stn_warp_mask", False):
        parts.append("warpmask")
    geo = _geometric(args)
    if geo:
        parts.append("geo" + "+".join(g for g in ("flip", "rotate", "scale", "elastic") if g in geo))
    return "".join(f"-{p}" for p in parts)


def _geometric(args):
    """The set of --geo-aug parts (a ConfigError for unknown names)."""
    from advance.augment import parse_geometric
    try:
        return parse_geometric(getattr(args, "geo_aug", "") or "")
    except ValueError as e:
        raise ConfigError(f"--geo-aug: {e}") from None


# --------------------------------------------------------------------------------------------------- data
def _check_size(args, sizes, what):
    if args.window:  # sliding windows take any image size; the window itself must suit the model
        check_input_size(args.model, args.window, args.window)
        return
    if len(sizes) > 1:
        shown = ", ".join(f"{h}x{w}" for h, w in sorted(sizes)[:4])
        raise DataError(f"the {what} images have different sizes ({shown}, ...); pass --img-size N to resize "
                        "them to N x N")
    for h, w in sizes:
        check_input_size(args.model, h, w)


def make_split(args, split, train=False):
    """The :class:`SegDataset` of ``split`` (checked: files, sizes, model divisibility)."""
    samples = load_split(args.dataset, split, args.data_root)
    sizes = check_samples(samples, args.img_size, what=f"{split} split")
    if train:
        _check_size(argparse_copy(args, window=None), sizes, split)
    else:
        _check_size(args, sizes, split)
    augment = None
    if train:
        from advance.augment import training_augmentation
        augment = training_augmentation(color=args.aug, geometric=_geometric(args))
    data = SegDataset(samples, n_classes=args.class_num, img_size=args.img_size, augment=augment,
                      batch_size=1 if (args.window and not train) else args.batch_size, shuffle=train,
                      label_map=parse_label_map(args.label_map))
    return data.preload(desc=f"reading the {split} split")


def argparse_copy(args, **changes):
    """A copy of the parsed flags with some values changed."""
    import argparse
    return argparse.Namespace(**{**vars(args), **changes})


def _window(args):
    """Keywords of sliding-window inference for utils.engine (empty when --window is not given)."""
    return dict(window=args.window, overlap=args.overlap, blend=args.blend) if args.window else {}


# --------------------------------------------------------------------------------------------------- model
def build_model(args):
    if args.class_num < 2:
        raise ConfigError(f"-c must be at least 2 (background and one class), got {args.class_num}")
    from utils.convert import backbone_kwargs
    # ImageNet weights only start a training run; test/predict load the trained checkpoint over them anyway
    weights = getattr(args, "backbone_weights", None) if args.mode == "train" else None
    model = create_model(args.model, in_channels=3, n_classes=args.class_num,
                         **backbone_kwargs(args.model, weights))
    if args.pretrain:
        meta = ckpt.load_weights(model, args.checkpoint, expected_model=args.model)
        print(f"loaded self-supervised weights {args.checkpoint}" + (f" ({meta.get('kind')})" if meta.get("kind") else ""))
    if args.stn:
        try:
            from advance.stn import STNWrapper
        except ImportError:
            raise ConfigError("--stn needs advance/stn.py, which this version does not have") from None
        model = STNWrapper(model, stn_size=getattr(args, "stn_size", None),
                           warp_mask=getattr(args, "stn_warp_mask", False))
    elif getattr(args, "stn_size", None) or getattr(args, "stn_warp_mask", False):
        raise ConfigError("--stn-size and --stn-warp-mask are options of the spatial transformer: add --stn")
    return model


def _meta(args, paths, **extra):
    return dict(model=args.model, dataset=paths.dataset, n_classes=args.class_num, stn=args.stn,
                img_size=args.img_size, stn_size=getattr(args, "stn_size", None),
                stn_warp_mask=getattr(args, "stn_warp_mask", False), geo_aug=getattr(args, "geo_aug", ""), **extra)


def _load_for_inference(args, paths, model):
    path = args.load or paths.best
    if not os.path.isfile(path):
        raise CheckpointError(f"no weights at {path}: train this configuration first (--mode train) "
                              "or pass --load FILE")
    ckpt.load_weights(model, path, expected_model=args.model)
    return path


# --------------------------------------------------------------------------------------------------- logs
def _write_cases(path, rows):
    """One CSV row per case and foreground class (Dice of the case's pooled slices = volume Dice)."""
    import io
    buf = io.StringIO()
    fields = ["case", "class_id", "dice", "true_pixels", "predicted_pixels", "n_images"]
    writer = csv.DictWriter(buf, fieldnames=fields)
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "dice": f"{row['dice']:.6f}"})
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
    keys = ["mDice", "mIoU", "dice_fg", "iou_fg", "dice_case", "dice_slice", "mPrecision", "mRecall", "asd", "hd95"]
    shown = "  ".join(f"{k} {result[k]:.4f}" for k in keys if isinstance(result.get(k), float))
    print(f"{title}: {shown}")


# --------------------------------------------------------------------------------------------------- modes
def _test_and_paint(args, paths, model, data):
    """Test metrics (returned), the per-case CSV, and an overlay of every test image."""
    os.makedirs(paths.overlays, exist_ok=True)

    def paint(index, pred):
        image, mask = data.load(index)
        save_rgb(os.path.join(paths.overlays, f"{data.samples[index].stem}.png"),
                 overlay(image, pred, mask, args.class_num))

    ev = Evaluator(args.class_num, surface=True)
    result = evaluate(model, data, args.class_num, desc="test", on_prediction=paint, evaluator=ev, **_window(args))
    _write_cases(paths.cases, ev.case_rows())
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
    elif os.path.exists(paths.last) and dist.is_main():
        print(f"note: starting a new run; {paths.last} (an earlier run's state) will be replaced")
    dist.broadcast_parameters(model)  # every rank starts from rank 0's weights

    main = dist.is_main()
    if main:
        print(f"{runtime.describe()}\nmodel {args.model}: {total:,} parameters ({trainable:,} trainable); "
              f"train {len(train_data.samples)} / val {len(val_data.samples)} / test {len(test_data.samples)} "
              f"images; loss {args.loss}; {args.optimizer} lr {args.lr:g}, batch {args.batch_size}, "
              f"{args.epochs} epochs")
        if dist.in_mpi():
            n = dist.world_size()
            print(f"MPI: {n} processes; the global batch is {args.batch_size} ({args.batch_size / n:g} per process, "
                  f"gradients averaged, BatchNorm statistics synchronised); learning rate {args.lr:g} (not scaled)")
    iters = len(train_data)
    board = TensorBoard(paths.tensorboard) if main else None
    for epoch in range(start_epoch, args.epochs + 1):
        seed_epoch(args.seed, epoch, [train_data])
        schedule = None
        if args.poly:
            done = (epoch - 1) * iters
            schedule = lambda it, done=done: poly_lr(args.lr, done + it, args.epochs * iters)  # noqa: E731
        t0 = time.perf_counter()
        try:
            loss = train_one_epoch(model, train_data, criterion, optimizer, epoch, schedule,
                                   on_step=board and (lambda it, v, lr, e=epoch: board.step((e - 1) * iters + it, v, lr)),
                                   target_fn=model.warp_target if getattr(model, "warp_mask", False) else None)
        except TrainingDiverged as e:
            kept = f"; the last good weights are in {paths.last} (epoch {epoch - 1})" if epoch > 1 else ""
            raise TrainingDiverged(f"{e}{kept}. Lower the learning rate (-l) or check the data.") from None
        seconds = time.perf_counter() - t0
        if not main:
            continue  # rank 0 alone validates and writes; the others go on to the next epoch's collectives
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
        write_epoch_csv(paths.log, history)
        board.epoch(epoch, row)
        print(f"epoch {epoch}/{args.epochs}: loss {loss:.4f}  val mIoU {val['mIoU']:.4f}  mDice {val['mDice']:.4f}  "
              f"fg Dice {val['dice_fg']:.4f}  ({seconds:.1f} s){'  * best' if improved else ''}")

    if not main:
        return 0
    board.close()
    if history:
        plot_curves(history, paths.curves, title=paths.tag)
    ckpt.load_weights(model, paths.best, expected_model=args.model)
    result = _test_and_paint(args, paths, model, test_data)
    seconds = [h["seconds"] for h in history]
    result.update(_result_meta(args, paths, total, trainable, best_epoch=best_epoch,
                               train_s_per_epoch=float(np.mean(seconds)) if seconds else None))
    _write_json(paths.result, result)
    _print_metrics(result, f"test ({len(test_data.samples)} images, best epoch {best_epoch})")
    print("outputs:\n"
          f"  best weights     {paths.best}\n"
          f"  resume state     {paths.last}\n"
          f"  metrics JSON     {paths.result}\n"
          f"  per-case Dice    {paths.cases}\n"
          f"  epoch log        {paths.log}\n"
          f"  TensorBoard      {paths.tensorboard}/\n"
          f"  curves           {paths.curves}\n"
          f"  overlays         {paths.overlays}/ ({_overlay_legend(args)})")
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
    result = _test_and_paint(args, paths, model, data)
    result.update(_result_meta(args, paths, total, trainable, weights=weights))
    _write_json(paths.result, result)
    _print_metrics(result, f"test ({len(data.samples)} images)")
    print(f"outputs:\n  metrics JSON     {paths.result}\n  per-case Dice    {paths.cases}\n"
          f"  overlays         {paths.overlays}/ ({_overlay_legend(args)})")
    return 0


def _overlay_legend(args):
    return "ground truth red, prediction cyan" if args.class_num == 2 else "ground truth left, prediction right"


def _input_samples(folder):
    if not os.path.isdir(folder):
        raise DataError(f"--input {folder}: not a folder")
    names = sorted(n for n in os.listdir(folder) if os.path.splitext(n)[1].lower() in IMAGE_EXTS)
    if not names:
        raise DataError(f"--input {folder} holds no images ({', '.join(IMAGE_EXTS)})")
    return [Sample(stem=os.path.splitext(n)[0], image=os.path.join(folder, n)) for n in names]


def predict(args):
    """Segment the test split, a folder of images, or NIfTI volumes (a file or a folder of them)."""
    paths = RunPaths(args)
    model = None
    if args.input and (is_volume(args.input) or (os.path.isdir(args.input) and _has_volumes(args.input))):
        model = build_model(args)
        _load_for_inference(args, paths, model)
        return _predict_volumes(args, paths, model)
    if args.input:
        samples = _input_samples(args.input)
        out_dir = f"{paths.overlays}-{os.path.basename(os.path.normpath(args.input))}"
    else:
        if not args.dataset:
            raise ConfigError("predict mode needs --input DIR or --dataset (its test split is segmented)")
        samples = load_split(args.dataset, "test", args.data_root)
        out_dir = paths.overlays
    sizes = check_samples(samples, args.img_size, need_masks=False, what="input")
    if args.window:
        check_input_size(args.model, args.window, args.window)
    else:
        for h, w in sizes:
            check_input_size(args.model, h, w)
    model = build_model(args)
    _load_for_inference(args, paths, model)
    data = SegDataset(samples, n_classes=args.class_num, img_size=args.img_size, batch_size=1, need_masks=False)
    for indices, preds, _ in predict_batches(model, data, desc="predict", **_window(args)):
        for idx, pred in zip(indices, preds):
            s = data.samples[int(idx)]
            image = read_image(s.image)
            pred = _resize_labels(pred, image.shape[:2])
            save_mask(os.path.join(out_dir, "masks", f"{s.stem}.png"), pred, args.class_num)
            save_rgb(os.path.join(out_dir, "overlays", f"{s.stem}.png"), overlay(image, pred, None, args.class_num))
    print(f"segmented {len(samples)} images:\n  masks     {out_dir}/masks/ "
          f"({'0/255' if args.class_num == 2 else 'class ids'})\n  overlays  {out_dir}/overlays/")
    return 0


def _has_volumes(folder):
    return any(is_volume(os.path.join(folder, n)) for n in os.listdir(folder))


def _resize_labels(pred, shape):
    if pred.shape == tuple(shape):
        return pred
    return cv2.resize(pred.astype(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST).astype(np.int64)


def _segment_slice(args, model, slice_u8):
    """Labels of one 2D uint8 slice (as the slicing tool writes them: grey, repeated over RGB)."""
    from dataset.base import resize_pair
    image, _ = resize_pair(np.repeat(slice_u8[:, :, None], 3, axis=2), None, args.img_size)
    x = image.transpose(2, 0, 1).astype(np.float32)[None] / 255.0
    model.eval()
    return _resize_labels(predict_probs(model, x, **_window(args))[0].argmax(axis=0), slice_u8.shape)


def _predict_volumes(args, paths, model):
    """Slice each volume as the training data was sliced, segment, re-stack, write NIfTI with the source header."""
    volumes = [args.input] if os.path.isfile(args.input) else list_volumes(args.input)
    slicing = read_slicing(args.dataset if args.dataset and os.path.isdir(args.dataset) else None)
    axis = slicing["axis"]
    out_dir = f"{paths.overlays}-{os.path.basename(os.path.normpath(args.input)).split('.nii')[0]}"
    written = []
    for path in tqdm(volumes, desc="volumes", unit="volume"):
        vol, img = load_volume(path)
        if vol.ndim != 3:
            raise DataError(f"{path} has {vol.ndim} dimensions; expected a 3D volume")
        scaled = window_volume(vol, slicing["window"], slicing["percentiles"])
        first = np.take(scaled, 0, axis=axis)
        if not args.window:
            h, w = (args.img_size, args.img_size) if args.img_size else first.shape
            check_input_size(args.model, h, w)
        labels = [_segment_slice(args, model, np.take(scaled, k, axis=axis)) for k in range(vol.shape[axis])]
        case = os.path.basename(path).split(".nii")[0]
        target = os.path.join(out_dir, f"{case}_pred.nii.gz")
        save_label_volume(np.stack(labels, axis=axis), target, img.affine, img.header)
        written.append(target)
    print(f"segmented {len(written)} volumes (axis {axis}):\n" + "\n".join(f"  {w}" for w in written))
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


def robust(args):
    """Test-split metrics under perturbations (advance/robust.py): CSV, markdown table, plot, example sheet."""
    from advance.robust import parse_perturbations, parse_strengths, run_benchmark, table
    try:
        names = parse_perturbations(args.perturb)
        strengths = parse_strengths(args.strengths)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    paths = RunPaths(args)
    data = make_split(args, "test")
    model = build_model(args)
    weights = _load_for_inference(args, paths, model)
    prefix = os.path.join(args.result_dir, paths.run)
    print(f"robustness of {weights} on {len(data.samples)} test images: {len(names)} perturbations x "
          f"strengths {', '.join(f'{s:g}' for s in strengths)}")
    rows = run_benchmark(model, data, args.class_num, prefix, names, strengths, seed=args.seed, title=paths.tag,
                         evaluate_kw=_window(args))
    print(table(rows, "dice_fg", "foreground Dice"))
    print(f"outputs:\n  table      {prefix}.csv, {prefix}.md\n  plot       {prefix}.png\n"
          f"  examples   {prefix}-examples.png\n"
          f"compare runs: python -m advance.robust compare A.csv B.csv --labels A B --out result/robust-compare")
    return 0


MODES = {"train": train, "test": test, "predict": predict, "debug": debug, "robust": robust}


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
    _geometric(args)  # and --geo-aug
    if getattr(args, "stn_size", None) is not None and args.stn_size < 2:
        raise ConfigError(f"--stn-size must be at least 2, got {args.stn_size}")
    if args.mode == "train":
        jt.set_global_seed(args.seed)
    elif not dist.is_main():
        return 0  # under mpirun, test/predict/debug run once, on rank 0
    return MODES[args.mode](args)
