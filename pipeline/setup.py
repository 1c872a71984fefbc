"""Everything a run needs before its first step, checked before anything is written: the flags, the data
(files, labels, sizes that suit the model), the model (ImageNet or self-supervised weights, the spatial
transformer), the loss and the optimizer.
"""
import argparse
import os

from advance.augment import parse_geometric, training_augmentation
from advance.stn import STNWrapper
from dataset import check_samples, load_split
from dataset.base import parse_label_map
from dataset.loader import SegDataset
from loss import build_loss
from model import backbone_kwargs, check_input_size, create_model
from utils import checkpoint as ckpt
from utils.errors import CheckpointError, ConfigError, DataError
from utils.optim import make_optimizer


# --------------------------------------------------------------------------------------------------- flags
def check_common_flags(args, lr_flag="-l"):
    """The flags run.py and run_ssl.py share: epochs, batch size, learning rate, image size, seed."""
    for flag, value in (("-e", args.epochs), ("-b", args.batch_size)):
        if value < 1:
            raise ConfigError(f"{flag} must be at least 1, got {value}")
    if args.lr <= 0:
        raise ConfigError(f"{lr_flag} must be positive, got {args.lr}")
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
        check_input_size(model, window, window)
        return
    if uniform and len(sizes) > 1:
        shown = ", ".join(f"{h}x{w}" for h, w in sorted(sizes)[:4])
        raise DataError(f"the {what} images have different sizes ({shown}, ...); pass --img-size N to resize "
                        "them to N x N")
    for h, w in sorted(sizes):
        check_input_size(model, h, w)


def make_split(args, split, train=False):
    """The :class:`SegDataset` of ``split``, read once (files, labels, sizes checked) before a run starts."""
    samples = load_split(args.dataset, split, args.data_root)
    sizes = check_samples(samples, args.img_size, what=f"{split} split")
    check_sizes(args.model, sizes, split, window=None if train else args.window)
    augment = training_augmentation(color=args.aug, geometric=args.geo_parts) if train else None
    data = SegDataset(samples, n_classes=args.class_num, img_size=args.img_size, augment=augment,
                      batch_size=1 if (args.window and not train) else args.batch_size, shuffle=train,
                      label_map=parse_label_map(args.label_map))
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
