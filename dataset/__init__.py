"""Dataset registry: ``--dataset`` names of the original, ``demo``, or the path of a folder dataset (the folder
layout, or the LGG ``kaggle_3m`` layout).

``load_split(name, split, data_root)`` returns the :class:`~dataset.base.Sample` list of a split;
:class:`~dataset.base.SegDataset` turns samples into batches.
"""
import os

from utils import runtime  # noqa: F401
from utils.errors import ConfigError, DataError
from .base import SPLITS, Sample, SegDataset, check_samples  # noqa: F401
from .demo import ensure_demo
from .folder import is_folder_dataset, read_folder_split
from .lgg import is_lgg_dataset, read_lgg_split
from .original import ORIGINAL_DATASETS, read_original_split


def list_datasets():
    """The named datasets (any folder path is accepted as well)."""
    return sorted(list(ORIGINAL_DATASETS) + ["demo"])


def dataset_tag(name):
    """Short name used in output file names: the registry name, or the folder's base name."""
    if name in ORIGINAL_DATASETS or name == "demo":
        return name
    return os.path.basename(os.path.normpath(name)) or "dataset"


def load_split(name, split, data_root="./data"):
    """Samples of ``split`` (train/val/test) of dataset ``name``."""
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    if name == "demo":
        return read_original_split(ensure_demo(data_root), split, ".png")
    if name in ORIGINAL_DATASETS:
        folder, suffix = ORIGINAL_DATASETS[name]
        root = os.path.join(data_root, folder)
        if not os.path.isdir(root):
            if not os.path.isdir(data_root):
                raise DataError(f"data root {data_root!r} does not exist; pass --data-root DIR "
                                f"(the folder that holds {folder.split('/')[0]}/)")
            raise DataError(f"dataset {name!r} not found: {root} does not exist. Unpack the original data under "
                            f"--data-root ({data_root}) so that {folder}/ holds the split files.")
        return read_original_split(root, split, suffix)
    if os.path.isdir(name):
        if is_folder_dataset(name):
            return read_folder_split(name, split)
        if is_lgg_dataset(name):
            return read_lgg_split(name, split)
        raise DataError(f"{name} is a folder but not a dataset: it needs images/ and masks/, or patient folders "
                        "with <patient>_<n>.tif and <patient>_<n>_mask.tif (see README, 'Datasets')")
    raise ConfigError(f"unknown dataset {name!r}: use one of {', '.join(list_datasets())} or the path of a "
                      "folder with images/ and masks/")
