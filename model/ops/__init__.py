"""Multi-threaded CPU operators for the layers Jittor 1.3.11 runs on one thread (README, "CPU operators").

Jittor's own CPU kernels outside oneDNN -- its fused element-wise ops, the reductions of BatchNorm, max
pooling, bilinear resizing -- run on one thread whatever ``OMP_NUM_THREADS`` says. The operators here are
``jt.code`` kernels (compiled with ``-fopenmp -Ofast``) with ``#pragma omp parallel for`` over channels or
image planes, each with its backward pass, accumulating in float64 where Jittor accumulates in float32:

* :class:`FastBatchNorm` / :class:`FastBatchNormReLU`: training-mode BatchNorm (batch statistics, running
  statistics updated as Jittor does), the ReLU after it fused where a block has one;
* :class:`FastMaxPool2d`: max pooling with kernel = stride (the 2 x 2 pools of every U-Net), indices too;
* :func:`resize` / :class:`FastUpsample`: bilinear resizing, ``align_corners`` either way;
* (and ``utils.optim.FastAdam``: the Adam update of each parameter in one pass).

:func:`accelerate` puts them into a built network without touching its definition: it changes the class of
each ``nn.BatchNorm``, ``nn.MaxPool2d`` and bilinear ``nn.Upsample`` instance to the subclass here (same
attributes, parameters and names, so checkpoints and ``state_dict`` are unchanged) and fuses a ReLU that
directly follows a BatchNorm in a ``Sequential``. Every case the kernels do not cover (CUDA, MPI's
synchronised BatchNorm, overlapping pools, other modes) runs Jittor's own code. ``JMEDSEG_CPU_OPS=0`` switches
them off (``utils.runtime.cpu_ops``); the thread count follows ``OMP_NUM_THREADS``.
"""
from jittor import nn

from utils import runtime

from .batchnorm import FastBatchNorm, FastBatchNormReLU, PassThrough
from .pool import FastMaxPool2d
from .resize import FastUpsample, resize

__all__ = ["FastBatchNorm", "FastBatchNormReLU", "FastMaxPool2d", "FastUpsample", "accelerate", "resize"]


def _references(model):
    """How many attributes, Sequential slots and list entries of ``model`` hold each module (by id)."""
    counts = {}

    def add(value):
        if isinstance(value, nn.Module):
            counts[id(value)] = counts.get(id(value), 0) + 1
        elif isinstance(value, dict):
            for v in value.values():
                add(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                add(v)
    for module in model.modules():
        for value in vars(module).values():
            add(value)
    return counts


def _fuse_relus(seq, references):
    """In a Sequential, a BatchNorm followed by a ReLU used nowhere else becomes one fused layer (the ReLU
    passes its input through)."""
    layers = list(seq)
    for first, second in zip(layers, layers[1:]):
        if (type(first) in (nn.BatchNorm, FastBatchNorm) and type(second) is nn.ReLU
                and references.get(id(first)) == 1 and references.get(id(second)) == 1):
            first.__class__ = FastBatchNormReLU
            second.__class__ = PassThrough


def accelerate(model):
    """Switch ``model``'s layers to the CPU operators in place (see the module docstring); returns ``model``.

    Idempotent, and a no-op when ``utils.runtime.cpu_ops()`` is false.
    """
    if not runtime.cpu_ops():
        return model
    references = _references(model)
    for module in model.modules():
        if isinstance(module, nn.Sequential):
            _fuse_relus(module, references)
    for module in model.modules():
        kind = type(module)
        if kind is nn.BatchNorm:
            module.__class__ = FastBatchNorm
        elif kind is nn.MaxPool2d:
            module.__class__ = FastMaxPool2d
        elif kind is nn.Upsample:
            module.__class__ = FastUpsample
    return model
