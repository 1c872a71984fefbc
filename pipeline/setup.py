"""Everything a run needs before its first step, checked before anything is written: the flags, the data
(files, labels, sizes that suit the model), the model (ImageNet or self-supervised weights, the spatial
transformer), the loss and the optimizer.
"""
import argparse
import math
import os

from advance.augment import parse_geometric, training_augmentation
from advance.stn import STNWrapper
from dataset import check_samples, load_split
from dataset.base import parse_label_map
from dataset.loader import SegDataset
from loss import build_loss
from model import backbone_kwargs, check_input_size, create_model, model_info
from utils import checkpoint as ckpt
from utils import distributed as dist
from utils import memory
from utils.errors import CheckpointError, ConfigError, DataError
from utils.optim import make_optimizer


# --------------------------------------------------------------------------------------------------- flags
def check_common_flags(args, lr_flag="-l"):
    """The flags run.py and run_ssl.py share: epochs, batch size, learning rate, image size, seed, folders."""
    for flag, value in (("-e", args.epochs), ("-b", args.batch_size)):
        if value < 1:
            raise ConfigError(f"{flag} must be at least 1, got {value}")
    if not (math.isfinite(args.lr) and args.lr > 0):
        raise ConfigError(f"{lr_flag} must be a finite positive number, got {args.lr}")
    if os.path.isfile(args.data_root):
        raise ConfigError(f"--data-root {args.data_root} is a file; give the folder that holds the datasets")
    if args.img_size is not None and args.img_size < 1:
        raise ConfigError(f"--img-size must be positive, got {args.img_size}")
    if args.seed < 0:
        raise ConfigError(f"--seed must be a non-negative integer, got {args.seed}")


def check_run_flags(args):
    """Validate run.py's flags (names, values, combinations) and add the parsed forms (``args.geo_parts``)."""
    check_common_flags(args)
    if args.class_num < 2:
        raise ConfigError(f"-c must be at least 2 (background and one class), got {args.class_num}")
    build_loss(args.loss, args.class_num, args.bce_weight)  # names and -w, before any work
    parse_label_map(args.label_map, args.class_num)
    if not 0.0 <= args.overlap < 1.0:
        raise ConfigError(f"--overlap must lie in [0, 1), got {args.overlap}")
    if os.path.isfile(args.result_dir):
        raise ConfigError(f"-r {args.result_dir} is a file; give a folder for the results")
    if args.load is not None and not os.path.isfile(args.load):
        raise CheckpointError(f"--load {args.load}: " + ("a folder; give a checkpoint file (.pkl) in it"
                                                           if os.path.isdir(args.load) else "not found"))
    args.geo_parts = parse_geometric(args.geo_aug)
    if args.stn_size is not None and args.stn_size < 2:
        raise ConfigError(f"--stn-size must be at least 2, got {args.stn_size}")
    if not args.stn and (args.stn_size or args.stn_warp_mask):
        raise ConfigError("--stn-size and --stn-warp-mask are options of the spatial transformer: add --stn")
    if args.window is not None and args.window < 1:
        raise ConfigError(f"--window must be positive, got {args.window}")
    return args


def with_changes(args, **changes):
    """A copy of the parsed flags with some values changed."""
    return argparse.Namespace(**{**vars(args), **changes})


def window_kw(args):
    """Keywords of sliding-window inference for :mod:`pipeline.engine` (empty when --window is not given)."""
    return dict(window=args.window, overlap=args.overlap, blend=args.blend) if args.window else {}


# --------------------------------------------------------------------------------------------------- data
def check_sizes(model, sizes, what, window=None, uniform=True):
    """The one size check: can ``model`` take images of ``sizes`` (a set of (H, W))?

    With ``window`` (sliding-window inference) the images may have any size and the window must suit the
    model. Otherwise every size must, and with ``uniform`` (batches of several images) they must be equal;
    the :class:`ConfigError`/:class:`DataError` names an ``--img-size`` that works.
    """
    if window:
        check_input_size(model, window, window, flag="--window")
        return
    if uniform and len(sizes) > 1:
        shown = ", ".join(f"{h}x{w}" for h, w in sorted(sizes)[:4])
        raise DataError(f"the {what} images have different sizes ({shown}, ...); pass --img-size N to resize "
                        "them to N x N")
    for h, w in sorted(sizes):
        check_input_size(model, h, w)


def make_split(args, split, train=False, model=None):
    """The :class:`SegDataset` of ``split``, read once (files, labels, sizes checked) before a run starts.

    With ``model``, the memory a step on this split needs is checked first (:func:`check_memory`), from the
    file headers alone, before any image is decoded or resized.
    """
    samples = load_split(args.dataset, split, args.data_root)
    sizes = check_samples(samples, args.img_size, what=f"{split} split")
    window = None if train else args.window
    check_sizes(args.model, sizes, split, window=window)
    batch = 1 if window else args.batch_size
    if model is not None:
        check_memory(args, model, window or max(max(hw) for hw in sizes), batch, training=train)
    augment = training_augmentation(color=args.aug, geometric=args.geo_parts) if train else None
    data = SegDataset(samples, n_classes=args.class_num, img_size=args.img_size, augment=augment,
                      batch_size=batch, shuffle=train, label_map=parse_label_map(args.label_map, args.class_num))
    return data.preload(desc=f"reading the {split} split")


# --------------------------------------------------------------------------------------------------- model
def build_model(args):
    """The network of ``--model`` with ``-c`` classes: ImageNet weights in its encoder when training with
    ``--backbone-weights``, self-supervised weights with ``--pretrain``, a spatial transformer with ``--stn``."""
    # ImageNet weights only start a training run; test/predict load the trained checkpoint over them anyway
    weights = args.backbone_weights if args.mode == "train" else None
    model = create_model(args.model, in_channels=3, n_classes=args.class_num,
                         **backbone_kwargs(args.model, weights))
    if args.pretrain:
        meta = ckpt.load_weights(model, args.checkpoint, expected_model=args.model)
        kind = f" ({meta['kind']})" if meta.get("kind") else ""
        print(f"loaded self-supervised weights {args.checkpoint}{kind}")
    if args.stn:
        model = STNWrapper(model, stn_size=args.stn_size, warp_mask=args.stn_warp_mask)
    return model


def load_for_inference(args, paths, model):
    """Load ``--load`` (or the configuration's best checkpoint) strictly into ``model``; returns the path."""
    path = args.load or paths.best
    if not os.path.isfile(path):
        raise CheckpointError(f"no weights at {path}: train this configuration first (--mode train) "
                              "or pass --load FILE")
    ckpt.load_weights(model, path, expected_model=args.model)
    return path


def build_training(args, model):
    """``(criterion, optimizer)`` of a training run."""
    return build_loss(args.loss, args.class_num, args.bce_weight), make_optimizer(args.optimizer,
                                                                                model.parameters(), args.lr)


def check_memory(args, model, side, batch, training=True, available=None):
    """Refuse (:class:`ConfigError`) a run whose step (``batch`` images of ``side`` x ``side``, divided among
    MPI ranks) would not fit in the memory this machine has free, with the numbers and an ``--img-size`` (and
    ``-b``) that fit; ``available`` (bytes) defaults to MemAvailable. Nothing is computed (utils/memory.py).
    """
    available = memory.available_bytes() if available is None else available
    if available is None:
        return
    batch = max(1, -(-batch // dist.world_size()))
    weights = sum(int(p.numel()) for p in model.parameters()) * 4
    act = memory.activation_bytes(model, (batch, 3, side, side))
    act_factor, weight_factor = (2, 4) if training else (1, 1)
    need = act_factor * act + weight_factor * weights
    budget = 0.9 * available
    if need <= budget:
        return
    info = model_info(args.model)
    room = max(0.0, (budget - weight_factor * weights) / act_factor)  # bytes the activations may take
    fit = int(side * (room / act) ** 0.5) // info.divisor * info.divisor
    fit_batch = int(batch * room / act)
    what = "a training step" if training else "an inference batch"
    advice = []
    if fit >= info.min_size:
        advice.append(f"--img-size {fit}")
    if fit_batch >= 1:
        advice.append(f"-b {fit_batch * dist.world_size()}")
    remedy = (f"Use {' or '.join(advice)}" if advice else
              f"Model {args.model!r} does not fit at any size; use a smaller model") + " (or a machine with more memory)."
    raise ConfigError(f"{what} of {args.model} on {batch} x 3 x {side} x {side} needs about "
                      f"{memory.gigabytes(need)} (activations {memory.gigabytes(act)} x {act_factor}, weights and "
                      f"optimizer state {memory.gigabytes(weight_factor * weights)}), more than the "
                      f"{memory.gigabytes(available)} this machine has free. {remedy}")
