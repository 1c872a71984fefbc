"""Optimizers and learning-rate schedules by name (``-o``, ``--poly``).

:data:`OPTIMIZERS`: the original's ``Adam`` (betas 0.9/0.999, eps 1e-8) and ``SGD`` (momentum 0.9, weight
decay 1e-4), each ``factory(params, lr)``. :data:`SCHEDULERS`: ``constant`` and ``poly``
(``lr * (1 - it / total) ** 0.9`` over the real number of iterations), each ``schedule(base_lr, iteration,
total_iterations) -> lr``, applied before every step (Jittor 1.3.11's own schedulers lag one step behind).
"""
from jittor import nn

from utils.registry import Registry

OPTIMIZERS = Registry("optimizer")
SCHEDULERS = Registry("learning-rate schedule")


@OPTIMIZERS.register("Adam")
def adam(params, lr):
    return nn.Adam(params, lr, betas=(0.9, 0.999))


@OPTIMIZERS.register("SGD")
def sgd(params, lr):
    return nn.SGD(params, lr, momentum=0.9, weight_decay=1e-4)


def make_optimizer(name, params, lr):
    """The optimizer ``name`` (a :class:`~utils.errors.ConfigError` listing the valid names when unknown)."""
    return OPTIMIZERS.get(name, "-o")(params, lr)


@SCHEDULERS.register("constant")
def constant_lr(base_lr, iteration, total_iterations):
    return base_lr


@SCHEDULERS.register("poly")
def poly_lr(base_lr, iteration, total_iterations, power=0.9):
    """``base_lr * (1 - iteration / total_iterations) ** power`` (never negative)."""
    return base_lr * max(0.0, 1.0 - iteration / total_iterations) ** power
