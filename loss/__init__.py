"""Losses by their ``--loss`` names, and weighted sums of them (``ce_0.5_dice_0.5``): ``build_loss(spec,
n_classes, w)``. Each loss module registers its factories in :data:`loss.registry.LOSSES`; this package imports
every module in the folder.
"""
import importlib
import pkgutil

from .registry import LOSSES, CompoundLoss, build_loss, list_losses, parse_loss_spec, register_loss  # noqa: F401

# Importing a loss module registers its losses (importlib: the folder is the list).
for _mod in pkgutil.iter_modules(__path__):
    if not _mod.name.startswith("_") and _mod.name not in ("functional", "registry"):
        importlib.import_module(f"{__name__}.{_mod.name}")
