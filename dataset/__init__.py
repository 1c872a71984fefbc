"""Datasets: ``--dataset`` names of the original, ``demo``, or the path of a folder in a registered layout
(``images/`` + ``masks/``, the LGG ``kaggle_3m`` layout, or Synapse's ``train_npz/`` + ``test_vol_h5/``).

``load_split(name, split, data_root)`` returns the :class:`~dataset.base.Sample` list of a split;
:class:`dataset.loader.SegDataset` (which imports Jittor) turns samples into batches. The readers register
themselves in :mod:`dataset.registry` when imported here.
"""
from . import demo, folder, lgg, original, synapse  # noqa: F401  (each registers its dataset or layout)
from .base import SPLITS, Sample, check_samples  # noqa: F401
from .registry import DATASETS, LAYOUTS, dataset_tag, list_datasets, load_split  # noqa: F401
from .synapse import class_names  # noqa: F401
