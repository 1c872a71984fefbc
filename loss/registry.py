"""The loss registry and the compound-name parser.

``--loss`` takes a single name (``ce``, ``dice``, ``iou``, ``focal``, ``bce``) or a weighted sum written as
alternating names and ratios, e.g. ``ce_0.5_dice_0.5`` or ``ce_0.8_iou_0.2``.  Every loss is called as
``loss(logits, target)`` with logits ``B x C x H x W`` and integer labels ``B x H x W`` and returns a scalar.
"""
import math
from dataclasses import dataclass
from typing import Callable

from utils.errors import ConfigError
from utils.registry import Registry

from .functional import class_weights


@dataclass(frozen=True)
class LossInfo:
    name: str
    factory: Callable            # factory(weights=None) -> loss(logits, target)
    uses_class_weights: bool = False  # takes the -w class weights
    description: str = ""


LOSSES = Registry("loss", record=LossInfo)


def register_loss(name, uses_class_weights=False):
    """Decorator: register ``factory(weights=None)`` under ``name``; ``uses_class_weights``: the factory gets
    the ``-w`` class weights."""
    return LOSSES.register(name, uses_class_weights=uses_class_weights)


def list_losses():
    return LOSSES.names()


class CompoundLoss:
    """``sum_k ratio_k * loss_k``."""

    def __init__(self, parts):
        self.parts = parts  # [(name, ratio, loss)]

    def __call__(self, logits, target):
        total = None
        for _, ratio, fn in self.parts:
            term = fn(logits, target) * ratio
            total = term if total is None else total + term
        return total

    def __repr__(self):
        return " + ".join(f"{r:g}*{n}" for n, r, _ in self.parts)


def parse_loss_spec(spec):
    """``"ce_0.5_dice_0.5"`` -> ``[("ce", 0.5), ("dice", 0.5)]``; ``"ce"`` -> ``[("ce", 1.0)]``."""
    tokens = spec.split("_")
    if len(tokens) == 1:
        pairs = [(tokens[0], 1.0)]
    elif len(tokens) % 2 == 0:
        pairs = []
        for name, ratio in zip(tokens[::2], tokens[1::2]):
            try:
                value = float(ratio)
            except ValueError:
                raise ConfigError(f"--loss {spec!r}: {ratio!r} is not a number; write e.g. ce_0.5_dice_0.5") from None
            if not math.isfinite(value) or value < 0:
                raise ConfigError(f"--loss {spec!r}: ratio {ratio!r} must be a finite number >= 0")
            pairs.append((name, value))
        if not any(value > 0 for _, value in pairs):
            raise ConfigError(f"--loss {spec!r}: every ratio is 0, so the loss would be 0 and nothing would train")
    else:
        raise ConfigError(f"--loss {spec!r}: write a name ({', '.join(list_losses())}) or name_ratio pairs "
                          "such as ce_0.5_dice_0.5")
    for name, _ in pairs:
        if name not in LOSSES:
            raise ConfigError(f"{LOSSES.unknown(name)} (in --loss {spec!r})")
    return pairs


def build_loss(spec, n_classes=2, w=1.0):
    """The loss for ``--loss spec``; ``w`` is the ``-w`` flag (class weights ``[2 - w, w]``, used by ce/bce)."""
    pairs = parse_loss_spec(spec)
    weights = class_weights(w, n_classes)
    built = []
    for name, ratio in pairs:
        info = LOSSES.get(name)
        built.append((name, ratio, info.factory(weights=weights if info.uses_class_weights else None)))
    if len(built) == 1 and built[0][1] == 1.0:
        return built[0][2]
    return CompoundLoss(built)
