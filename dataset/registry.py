"""The dataset registries: named datasets (:data:`DATASETS`: the original's five, ``demo``) and folder
layouts (:data:`LAYOUTS`: a folder of ``images/`` and ``masks/``, the LGG ``kaggle_3m`` layout).

``--dataset`` is a registered name or the path of a folder in one of the layouts (the first layout whose
``detect(path)`` is true reads it). :func:`load_split` returns the :class:`~dataset.base.Sample` list of a
split; :class:`dataset.loader.SegDataset` turns samples into batches.
"""
import os
from dataclasses import dataclass
from typing import Callable

from utils.errors import ConfigError, DataError
from utils.registry import Registry

from .base import SPLITS


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    read: Callable               # read(split, data_root) -> [Sample]
    description: str = ""


@dataclass(frozen=True)
class LayoutInfo:
    name: str
    read: Callable               # read(root, split) -> [Sample]
    detect: Callable             # detect(path) -> bool
    description: str             # what a folder of this layout holds, e.g. "images/ and masks/"


DATASETS = Registry("dataset", record=DatasetInfo)
LAYOUTS = Registry("folder layout", record=LayoutInfo)
# Decorators: ``@register_dataset("name", description=...)`` on ``read(split, data_root) -> samples``;
# ``@register_layout("name", detect=fn, description=...)`` on ``read(root, split) -> samples`` for the folders
# where ``detect(root)`` is true.
register_dataset = DATASETS.register
register_layout = LAYOUTS.register


def list_datasets():
    """The named datasets (any folder path in a registered layout is accepted as well)."""
    return DATASETS.names()


def dataset_tag(name):
    """Short name used in output file names: the registry name, or the folder's base name."""
    if name in DATASETS:
        return name
    return os.path.basename(os.path.normpath(name)) or "dataset"


def load_split(name, split, data_root="./data"):
    """Samples of ``split`` (train/val/test) of dataset ``name`` (a registered name or a folder)."""
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    if name in DATASETS:
        return DATASETS.get(name).read(split, data_root)
    if os.path.isdir(name):
        for _, layout in LAYOUTS.items():
            if layout.detect(name):
                return layout.read(name, split)
        kinds = ", or ".join(layout.description for _, layout in LAYOUTS.items())
        raise DataError(f"{name} is a folder but not a dataset: it needs {kinds} (see README, 'Datasets')")
    raise ConfigError(f"{DATASETS.unknown(name)}, or the path of a folder with images/ and masks/")
