"""Reading ImageNet weights (PyTorch files in torchvision's naming, or our converted ``.pkl``) and loading
them strictly into the encoders of this folder.

Our ResNet and VGG-16 keep torchvision's parameter names, so loading a ``state_dict`` means: drop the
classifier (``fc.*``, ``classifier.*``, declared by each encoder as ``unused_weight_prefixes``) and BatchNorm's
``num_batches_tracked`` counters, turn the tensors into float32 arrays, and check every remaining name and
shape against the encoder, strictly: a missing key, an unexpected key or a shape mismatch is an error that
lists them (never a silently half-random encoder).

Reading a ``.pth`` needs PyTorch, an optional extra (``pip install -r requirements-torch.txt``); converting
once where torch is installed (``python -m pipeline convert``, :mod:`model.backbone.convert`) gives a ``.pkl``
that needs no torch.
"""
import os

import numpy as np

from utils import checkpoint as ckpt
from utils.errors import CheckpointError, ConfigError

TORCH_SUFFIXES = (".pth", ".pt", ".bin", ".tar")


def _torch():
    try:
        import torch  # optional dependency, loaded on use
    except ImportError:
        raise ConfigError("reading a PyTorch weight file needs PyTorch, which is not installed: "
                          "pip install -r requirements-torch.txt (torch==2.13.0, CPU build), or convert the "
                          "file where torch is installed (python -m pipeline convert IN.pth OUT.pkl) and pass "
                          "the .pkl") from None
    return torch


def read_torch_state(path):
    """``{name: float32 array}`` from a PyTorch ``state_dict`` file (also inside ``{"state_dict": ...}`` or
    ``{"model": ...}``, and without a DataParallel ``module.`` prefix)."""
    torch = _torch()
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds for damaged or foreign files
        raise CheckpointError(f"cannot read PyTorch weights {path}: {str(e).splitlines()[0]}") from None
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path} holds a {type(obj).__name__}, not a state_dict")
    state = {k: v.detach().cpu().numpy() for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def read_weights(path):
    """``{name: array}`` of a weight file: a PyTorch file (by suffix: .pth .pt .bin .tar) or our ``.pkl``."""
    if not os.path.isfile(path):
        raise CheckpointError(f"backbone weights not found: {path}")
    if path.lower().endswith(TORCH_SUFFIXES):
        state = read_torch_state(path)
    else:
        state = ckpt.load_file(path)
        if not isinstance(state, dict):
            raise CheckpointError(f"{path} is not a weight file (it holds a {type(state).__name__})")
        state = {k: np.asarray(v) for k, v in state.items() if k != ckpt.META_KEY}
    return {k: v.astype(np.float32) if np.issubdtype(v.dtype, np.floating) else v for k, v in state.items()}


def backbone_state(encoder, state, source):
    """The entries of ``state`` that belong to ``encoder``, checked strictly against its names and shapes.

    Drops BatchNorm's ``num_batches_tracked`` and the prefixes the encoder declares unused
    (``encoder.unused_weight_prefixes``: the classifier, an unbuilt ``layer4``); raises
    :class:`CheckpointError` listing missing keys, unexpected keys and shape mismatches.
    """
    skip = tuple(getattr(encoder, "unused_weight_prefixes", ()))
    kept = {k: v for k, v in state.items()
            if not k.endswith("num_batches_tracked") and not k.startswith(skip)}
    what = encoder.describe() if hasattr(encoder, "describe") else type(encoder).__name__
    ckpt.check_state(encoder, kept, source, expected_model=what)
    return kept


def load_backbone_state(encoder, state, source):
    """Load ``state`` (``{name: array}``) into ``encoder`` after :func:`backbone_state`'s strict check."""
    encoder.load_parameters(backbone_state(encoder, state, source))


def load_backbone_weights(encoder, path):
    """Read ``path`` (a ``.pth`` or converted ``.pkl``) and load it strictly into ``encoder``."""
    load_backbone_state(encoder, read_weights(path), path)
