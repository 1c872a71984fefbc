"""The model registries: every network by its CLI name (:data:`MODELS`) and every shared encoder
(:data:`ENCODERS`), with what the rest of the library needs to know about each.

A network registers its builder with ``@register_model("name", ...)``; a builder takes ``in_channels`` and
``n_classes`` (plus model-specific keywords) and returns a ``jittor.nn.Module`` whose ``execute`` gives raw
logits ``B x n_classes x H x W`` at the input resolution. :class:`ModelInfo` holds the facts that used to be
scattered over the command line, the scripts and the tests: the sizes the network takes, the encoder that
ImageNet weights can start, the layer that contrastive pretraining reads, the image size of the learning
check.
"""
from dataclasses import dataclass
from typing import Callable, Optional, Tuple

from utils.errors import ConfigError

from .ops import accelerate
from utils.registry import Registry


@dataclass(frozen=True)
class SSLSpec:
    """How ``pretrain.sh`` pretrains a network contrastively (the original's settings): the submodule
    ``run_ssl.py --layer`` reads, its channel count (``--channel``) and the learning rate."""
    layer: str
    channels: int
    lr: float


@dataclass(frozen=True)
class ModelInfo:
    name: str
    builder: Callable
    module: str                  # the module that defines the network, e.g. "model.unet"
    divisor: int                 # H and W must be multiples of this
    min_size: int                # smallest H/W the network takes (a multiple of divisor)
    description: str             # one line, for `python -m pipeline list models` and debug mode
    encoder: Optional[str] = None  # the ENCODERS entry that --backbone-weights starts (None: no such encoder)
    test_size: int = 64          # image side of the learning check (tests/model/test_learning.py)
    ssl: Optional[SSLSpec] = None  # contrastive pretraining of the original's SAS rows (pretrain.sh, train.sh)
    reference_params: Optional[int] = None  # the original's stated count at n_classes=2 (BN statistics included)
    no_grad: Tuple[str, ...] = ()           # regexes of parameters that legitimately get no gradient


@dataclass(frozen=True)
class EncoderInfo:
    name: str
    builder: Callable            # builder(in_channels=3, weights=None, **kw) -> encoder module
    imagenet: Optional[str] = None  # the torchvision architecture whose ImageNet state_dict fits (None: none)
    description: str = ""


MODELS = Registry("model", record=ModelInfo)
ENCODERS = Registry("encoder", record=EncoderInfo)
# Decorator: register ``builder(in_channels=3, weights=None, **kw)`` as an encoder; ``imagenet=`` names the
# torchvision architecture whose ImageNet weights it takes.
register_encoder = ENCODERS.register


def register_model(name, divisor=16, min_size=None, description="", encoder=None, test_size=None, ssl=None,
                   reference_params=None, no_grad=()):
    """Decorator: register ``builder(in_channels=3, n_classes=2, **kw)`` under the CLI ``name``.

    ``divisor``/``min_size``: the input sizes the network takes; ``description`` defaults to the first line of
    the builder's docstring; ``encoder``: the :data:`ENCODERS` name whose weights ``backbone_weights`` loads
    (the builder must then take ``backbone_weights``); ``test_size``: image side of the learning check
    (default ``max(64, min_size)``); ``ssl``: an :class:`SSLSpec`; ``reference_params``: the parameter count
    the original states (checked by the tests within 2%); ``no_grad``: regexes of parameter names that
    legitimately receive no gradient.
    """
    if encoder is not None and encoder not in ENCODERS:
        raise ValueError(f"model {name!r}: unknown encoder {encoder!r}")
    low = min_size or divisor

    def wrap(builder):
        return MODELS.register(name, module=builder.__module__, divisor=divisor, min_size=low,
                               description=description, encoder=encoder, test_size=test_size or max(64, low),
                               ssl=ssl, reference_params=reference_params, no_grad=tuple(no_grad))(builder)
    return wrap


def list_models():
    """Registered CLI names, sorted."""
    return MODELS.names()


def model_info(name):
    """The :class:`ModelInfo` of ``name``; a :class:`ConfigError` listing valid names when unknown."""
    return MODELS.get(name)


def create_model(name, in_channels=3, n_classes=2, **kw):
    """Build the network registered as ``name`` (its layers on the CPU operators of model/ops where they apply)."""
    if n_classes < 2:
        raise ConfigError(f"n_classes must be at least 2 (background + foreground), got {n_classes}")
    return accelerate(model_info(name).builder(in_channels=in_channels, n_classes=n_classes, **kw))


def backbone_kwargs(name, weights):
    """The builder keywords that start ``name``'s encoder from ``weights`` (``{}`` without weights); a
    :class:`ConfigError` naming the models that take them when ``name`` has no such encoder."""
    if not weights:
        return {}
    if model_info(name).encoder is None:
        takers = [n for n, info in MODELS.items() if info.encoder]
        raise ConfigError(f"model {name!r} has no ResNet/VGG encoder to take --backbone-weights; models "
                          f"that do: {', '.join(sorted(takers))}")
    return {"backbone_weights": weights}


def check_input_size(name, height, width, flag="--img-size"):
    """Raise a :class:`ConfigError` naming a working size when ``name`` cannot take H x W: a ``--img-size``
    for images, or (``flag="--window"``) a ``--window`` for sliding windows."""
    info = model_info(name)
    bad = [s for s in (height, width) if s % info.divisor or s < info.min_size]
    if not bad:
        return
    d = info.divisor
    s = max(height, width)
    lower, upper = max(info.min_size, s // d * d), max(info.min_size, -(-s // d) * d)
    sizes = sorted({lower, upper})
    if flag == "--window":
        raise ConfigError(f"model {name!r} needs windows whose side is a multiple of {d} (at least {info.min_size}); "
                          f"--window {height} is not. Use --window {' or --window '.join(map(str, sizes))}.")
    raise ConfigError(
        f"model {name!r} needs H and W to be multiples of {d} (at least {info.min_size}); the images are "
        f"{height}x{width}. Resize them with --img-size {' or --img-size '.join(map(str, sizes))}.")


def count_parameters(model):
    """(total, trainable) element counts.

    ``total`` counts every variable the module holds, BatchNorm running statistics included (how the original's
    debug mode and its stated parameter counts count); ``trainable`` only those that receive gradients.
    """
    total = trainable = 0
    for p in model.parameters():
        n = int(p.numel())
        total += n
        if p.requires_grad:
            trainable += n
    return total, trainable
