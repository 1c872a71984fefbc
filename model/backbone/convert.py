"""Convert a PyTorch ResNet/VGG ``state_dict`` (torchvision naming) into backbone weights for
``--backbone-weights``, checking every name and shape (``python -m pipeline convert``)::

    python -m pipeline convert resnet101-63fe2227.pth checkpoints/resnet101-imagenet.pkl --arch resnet101
    python -m pipeline convert vgg16_bn-6c64b313.pth checkpoints/vgg16_bn-imagenet.pkl   # --arch detected

The ``.pkl`` is a Jittor pickle like our checkpoints (``{name: array}`` plus ``"__meta__"``). The
architectures are those of :data:`model.registry.ENCODERS` that name a torchvision ImageNet architecture.
"""
import os

from utils import checkpoint as ckpt
from utils.errors import ConfigError

from ..registry import ENCODERS
from . import resnet as _resnet  # noqa: F401  (registers the ResNet encoders)
from . import vgg as _vgg  # noqa: F401  (registers the VGG encoders)
from .weights import backbone_state, read_weights

RESNET_DEPTHS = {(2, 2, 2, 2): 18, (3, 4, 6, 3): 34, (3, 4, 23, 3): 101}  # 50 is (3, 4, 6, 3) with bottlenecks


def imagenet_archs():
    """The torchvision architectures an encoder takes weights of (``resnet18`` ... ``vgg16_bn``)."""
    return sorted({info.imagenet for _, info in ENCODERS.items() if info.imagenet})


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
    """Our encoder for the torchvision ``arch``; a ResNet gets the deep stem when ``state`` has one
    (``conv1.0.weight``)."""
    if arch not in imagenet_archs():
        raise ConfigError(f"unknown architecture {arch!r}; choose one of {', '.join(imagenet_archs())}")
    builder = ENCODERS.get(arch).builder
    if arch.startswith("resnet"):
        return builder(in_channels, deep_stem="conv1.0.weight" in (state or {}))
    return builder(in_channels)


def convert(src, dst, arch=None):
    """Convert the PyTorch (or our) weight file ``src`` for ``arch`` into our ``.pkl`` at ``dst``;
    returns the architecture used."""
    state = read_weights(src)
    arch = arch or detect_arch(state)
    if arch is None:
        raise ConfigError(f"cannot tell the architecture of {src}; pass --arch ({', '.join(imagenet_archs())})")
    encoder = build_encoder(arch, state)
    kept = backbone_state(encoder, state, src)
    kept[ckpt.META_KEY] = {"kind": "backbone", "arch": arch, "deep_stem": bool(getattr(encoder, "deep_stem", False)),
                           "source": os.path.basename(src)}
    ckpt.atomic_save(kept, dst)
    return arch
