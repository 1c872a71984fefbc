"""Import PyTorch ImageNet weights (torchvision's ResNet/VGG naming) into the encoders of ``model/backbone``.

Our ResNet and VGG-16 keep torchvision's parameter names, so converting a ``state_dict`` means: drop the
classifier (``fc.*``, ``classifier.*``) and BatchNorm's ``num_batches_tracked`` counters, turn the tensors into
float32 arrays, and check every remaining name and shape against the encoder, strictly: a missing key, an
unexpected key or a shape mismatch is an error that lists them (never a silently half-random encoder).

    python -m utils.convert resnet101-63fe2227.pth checkpoints/resnet101-imagenet.pkl --arch resnet101
    python -m utils.convert vgg16_bn-6c64b313.pth checkpoints/vgg16_bn-imagenet.pkl   # --arch detected

The ``.pkl`` is a Jittor pickle like our checkpoints (``{name: array}`` plus ``"__meta__"``). The networks
with a ResNet/VGG encoder take ``backbone_weights=PATH`` (a converted ``.pkl`` or the ``.pth`` itself) and
load it strictly into their encoder; ``run.py --backbone-weights FILE`` passes it through
:func:`backbone_kwargs`.

Reading a ``.pth`` needs PyTorch, an optional extra: ``pip install -r requirements-torch.txt``. Converting
once where torch is installed gives a ``.pkl`` that needs no torch.
"""
import argparse
import inspect
import os
import sys

import numpy as np

from utils import runtime  # noqa: F401
from utils import checkpoint as ckpt
from utils.errors import CheckpointError, ConfigError, UserError

TORCH_SUFFIXES = (".pth", ".pt", ".bin", ".tar")
RESNET_DEPTHS = {(2, 2, 2, 2): 18, (3, 4, 6, 3): 34, (3, 4, 23, 3): 101}  # 50 is (3, 4, 6, 3) with bottlenecks
ARCHS = ("resnet18", "resnet34", "resnet50", "resnet101", "vgg16", "vgg16_bn")


def _torch():
    try:
        import torch
    except ImportError:
        raise ConfigError("reading a PyTorch weight file needs PyTorch, which is not installed: "
                          "pip install -r requirements-torch.txt (torch==2.13.0, CPU build), or convert the "
                          "file where torch is installed (python -m utils.convert IN.pth OUT.pkl) and pass "
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


def detect_arch(state):
    """Guess the torchvision architecture of a ``state_dict`` (``resnet50``, ``vgg16_bn``, ...), or None."""
    if "features.0.weight" in state:
        return "vgg16_bn" if "features.1.running_mean" in state else "vgg16"
    counts = []
    for i in range(1, 5):
        blocks = {k.split(".")[1] for k in state if k.startswith(f"layer{i}.")}
        counts.append(len(blocks))
    bottleneck = "layer1.0.conv3.weight" in state
    if bottleneck and tuple(counts) == (3, 4, 6, 3):
        return "resnet50"
    depth = RESNET_DEPTHS.get(tuple(counts))
    if depth and bottleneck == (depth > 34):
        return f"resnet{depth}"
    return None


def build_encoder(arch, state=None, in_channels=3):
    """Our encoder for ``arch``; a ResNet gets the deep stem when ``state`` has one (``conv1.0.weight``)."""
    from model.backbone.resnet import ResNet
    from model.backbone.vgg import VGG16
    if arch not in ARCHS:
        raise ConfigError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")
    if arch.startswith("vgg"):
        return VGG16(in_channels, batch_norm=arch.endswith("_bn"))
    return ResNet(int(arch[len("resnet"):]), in_channels, deep_stem="conv1.0.weight" in (state or {}))


def convert(src, dst, arch=None):
    """Convert the PyTorch (or our) weight file ``src`` for ``arch`` into our ``.pkl`` at ``dst``;
    returns the architecture used."""
    state = read_weights(src)
    arch = arch or detect_arch(state)
    if arch is None:
        raise ConfigError(f"cannot tell the architecture of {src}; pass --arch ({', '.join(ARCHS)})")
    encoder = build_encoder(arch, state)
    kept = backbone_state(encoder, state, src)
    kept[ckpt.META_KEY] = {"kind": "backbone", "arch": arch, "deep_stem": bool(getattr(encoder, "deep_stem", False)),
                           "source": os.path.basename(src)}
    ckpt.atomic_save(kept, dst)
    return arch


def backbone_kwargs(model_name, path):
    """The builder keywords that give ``model_name`` the backbone weights ``path`` (``{}`` without a path).

    A :class:`ConfigError` naming the models that take backbone weights when ``model_name`` does not.
    """
    if not path:
        return {}
    from model import list_models, model_info

    def takes(name):
        return "backbone_weights" in inspect.signature(model_info(name).builder).parameters
    if not takes(model_name):
        raise ConfigError(f"model {model_name!r} has no ResNet/VGG encoder to take --backbone-weights; models "
                          f"that do: {', '.join(n for n in list_models() if takes(n))}")
    return {"backbone_weights": path}


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m utils.convert",
        description="Convert a PyTorch ResNet/VGG state_dict (torchvision naming) into backbone weights for "
                    "--backbone-weights, checking every name and shape.")
    p.add_argument("src", help="PyTorch state_dict file (.pth/.pt) or a converted .pkl")
    p.add_argument("dst", help="output .pkl")
    p.add_argument("--arch", choices=ARCHS, help="architecture of the weights (default: detected from the names)")
    args = p.parse_args(argv)
    try:
        arch = convert(args.src, args.dst, args.arch)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.dst} ({arch})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
