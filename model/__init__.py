"""The networks, by their CLI names: ``create_model(name, in_channels=3, n_classes=2, **kw)``.

Each model file registers its builders in :data:`model.registry.MODELS` with ``@register_model("name", ...)``;
this package imports every module in the folder, so adding a network is a one-file change (README,
"Architecture"). Shared blocks live in ``model/blocks.py``, shared encoders (and their ImageNet weight import)
in ``model/backbone/``.
"""
import importlib
import pkgutil

from .registry import (ENCODERS, MODELS, EncoderInfo, ModelInfo, SSLSpec, backbone_kwargs,  # noqa: F401
                       check_input_size, count_parameters, create_model, list_models, model_info, register_model)

_NOT_NETWORKS = {"blocks", "registry", "backbone"}

# Importing a model module registers its networks (importlib: the folder is the list).
for _mod in pkgutil.iter_modules(__path__):
    if not _mod.name.startswith("_") and _mod.name not in _NOT_NETWORKS:
        importlib.import_module(f"{__name__}.{_mod.name}")
