"""The model registry: every network by its CLI name.

Each model file registers its builders with ``@register_model("name")``; this package imports every module in
the folder, so adding a network is a one-file change.  A builder takes ``in_channels`` and ``n_classes`` (plus
model-specific keywords) and returns a ``jittor.nn.Module`` whose ``execute`` gives raw logits
``B x n_classes x H x W`` at the input resolution.
"""
import importlib
import pkgutil
from dataclasses import dataclass
from typing import Callable, Optional, Tuple

from utils import runtime  # noqa: F401  (configures Jittor before it is imported)
from utils.errors import ConfigError


@dataclass(frozen=True)
class ModelInfo:
    name: str
    builder: Callable
    divisor: int                 # H and W must be multiples of this
    min_size: int                # smallest H/W the network takes (a multiple of divisor)
    description: str
    reference_params: Optional[int] = None  # the original's stated count at n_classes=2 (BN statistics included)
    no_grad: Tuple[str, ...] = ()           # regexes of parameters that legitimately get no gradient


_REGISTRY = {}


def register_model(name, divisor=16, min_size=None, description="", reference_params=None, no_grad=()):
    """Decorator: register ``builder(in_channels=3, n_classes=2, **kw)`` under the CLI ``name``.

    ``divisor``/``min_size``: the input sizes the network takes; ``description`` defaults to the first line of
    the builder's docstring; ``reference_params``: the parameter count the original states (checked by the
    tests within 2%); ``no_grad``: regexes of parameter names that legitimately receive no gradient.
    """
    def wrap(builder):
        if name in _REGISTRY:
            raise ValueError(f"model name {name!r} is registered twice")
        doc = description or ((builder.__doc__ or "").strip().splitlines() or [""])[0]
        _REGISTRY[name] = ModelInfo(name, builder, divisor, min_size or divisor, doc, reference_params,
                                    tuple(no_grad))
        return builder
    return wrap


def list_models():
    """Registered CLI names, sorted."""
    return sorted(_REGISTRY)


def model_info(name):
    """The :class:`ModelInfo` of ``name``; a :class:`ConfigError` listing valid names when unknown."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; valid names: {', '.join(list_models())}") from None


def create_model(name, in_channels=3, n_classes=2, **kw):
    """Build the network registered as ``name``."""
    if n_classes < 2:
        raise ConfigError(f"n_classes must be at least 2 (background + foreground), got {n_classes}")
    return model_info(name).builder(in_channels=in_channels, n_classes=n_classes, **kw)


def check_input_size(name, height, width):
    """Raise a :class:`ConfigError` naming a working ``--img-size`` when ``name`` cannot take H x W."""
    info = model_info(name)
    bad = [s for s in (height, width) if s % info.divisor or s < info.min_size]
    if not bad:
        return
    d = info.divisor
    s = max(height, width)
    lower, upper = max(info.min_size, s // d * d), max(info.min_size, -(-s // d) * d)
    sizes = sorted({lower, upper})
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


def _import_all():
    for mod in pkgutil.iter_modules(__path__):
        if not mod.name.startswith("_") and mod.name != "blocks":
            importlib.import_module(f"{__name__}.{mod.name}")


_import_all()
