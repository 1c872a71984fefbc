"""Every registry of the library in one place, and the ``python -m pipeline`` commands that read them:

    python -m pipeline list models            # one name per line (also: encoders, losses, datasets, layouts,
                                              # optimizers, schedulers, modes, perturbations, blends, geo-aug,
                                              # distillers)
    python -m pipeline list models -v         # with what the registry knows about each
    python -m pipeline list ssl               # "model layer channels lr" of the models with SAS rows
    python -m pipeline convert IN.pth OUT.pkl [--arch ARCH]   # ImageNet weights for --backbone-weights

The shell scripts (train.sh, batch_test.sh, pretrain.sh) read their model lists from here.
"""
import argparse

from advance.augment import GEOMETRIC
from advance.distill import DISTILLERS
from advance.robust import PERTURBATIONS
from dataset import DATASETS, LAYOUTS
from loss import LOSSES
from model import ENCODERS, MODELS
from model.backbone.convert import convert, imagenet_archs
from utils.optim import OPTIMIZERS, SCHEDULERS
from utils.registry import first_doc_line

from .inference import BLENDS
from .modes import MODES

REGISTRIES = {
    "models": MODELS, "encoders": ENCODERS, "losses": LOSSES, "datasets": DATASETS, "layouts": LAYOUTS,
    "optimizers": OPTIMIZERS, "schedulers": SCHEDULERS, "modes": MODES, "perturbations": PERTURBATIONS,
    "blends": BLENDS, "geo-aug": GEOMETRIC, "distillers": DISTILLERS,
}


def _details(kind, name, entry):
    """One line about a registry entry for ``list -v``."""
    if kind == "models":
        extra = [f"divisor {entry.divisor}", f"min {entry.min_size}"]
        if entry.encoder:
            extra.append(f"encoder {entry.encoder}")
        if entry.ssl:
            extra.append(f"ssl layer {entry.ssl.layer}")
        return f"{name:<14}{entry.description}  [{', '.join(extra)}; {entry.module}]"
    if kind == "distillers":
        return f"{name:<16}{entry.describe()}"
    if kind == "encoders":
        return f"{name:<20}{entry.description}" + (f"  [ImageNet: {entry.imagenet}]" if entry.imagenet else "")
    description = entry.description if hasattr(entry, "description") else first_doc_line(entry)
    return f"{name:<16}{description}"


def list_entries(kind, verbose=False):
    """The lines ``python -m pipeline list KIND`` prints."""
    if kind == "ssl":
        return [f"{name} {info.ssl.layer} {info.ssl.channels} {info.ssl.lr:g}"
                for name, info in sorted(MODELS.items()) if info.ssl]
    registry = REGISTRIES[kind]
    if not verbose:
        return registry.names()
    return [_details(kind, name, registry.get(name)) for name in registry.names()]


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m pipeline", description="The library's registries and tools.")
    sub = p.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help="the names of one registry")
    ls.add_argument("kind", choices=[*REGISTRIES, "ssl"])
    ls.add_argument("-v", "--verbose", action="store_true", help="what the registry knows about each entry")
    cv = sub.add_parser("convert", help="convert a PyTorch ResNet/VGG state_dict into --backbone-weights")
    cv.add_argument("src", help="PyTorch state_dict file (.pth/.pt) or a converted .pkl")
    cv.add_argument("dst", help="output .pkl")
    cv.add_argument("--arch", choices=imagenet_archs(), help="architecture of the weights (default: detected)")
    args = p.parse_args(argv)
    if args.command == "list":
        print("\n".join(list_entries(args.kind, args.verbose)))
        return 0
    arch = convert(args.src, args.dst, args.arch)
    print(f"wrote {args.dst} ({arch})")
    return 0
