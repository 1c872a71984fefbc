"""The Synapse multi-organ CT layout, as distributed for TransUNet-style 2D training.

::

    root/train_npz/caseXXXX_sliceYYY.npz   keys image (H x W float CT, windowed to [0, 1]), label (H x W, 0..8)
    root/test_vol_h5/caseXXXX.npy.h5       keys image, label (D x H x W): one test volume

Classes (``-c 9``): background, aorta, gallbladder, left kidney, right kidney, liver, pancreas, spleen, stomach
(:data:`ORGANS`). Splits: ``test`` is every slice of the test volumes, in volume order; ``train`` and ``val``
come from the training slices, whole cases held out for validation (15 %, at least one case, by a fixed
seed), since the layout has no validation set. The case (``caseXXXX``) is the volume of the per-volume metrics.

The library's readers take images and masks by file; so on first use the slices are written once, losslessly
as 8-bit PNGs (``round(255 x image)``, which is what the loader makes of a [0, 1] float image anyway; labels as
they are), into a folder dataset with a ``split.csv`` under the cache folder (``$JMEDSEG_CACHE``, by default
``~/.cache/jmedseg-jt``), ``synapse/<name>-<hash of the path>/``. The cache records the sources' names, sizes
and modification times and is rebuilt when they change; it is written to a temporary folder and renamed into
place, so an interrupted or failed conversion leaves no half cache. Bad sources (a missing key, an image
outside [0, 1], labels that are not integers, image and label of different shapes) are a
:class:`~utils.errors.DataError` naming the file.
"""
import hashlib
import json
import os
import re
import shutil
import tempfile

import cv2
import h5py
import numpy as np

from utils.errors import DataError, OutputError
from .base import stamp_matches
from .folder import read_folder_split
from .registry import register_layout

ORGANS = ("background", "aorta", "gallbladder", "kidney_left", "kidney_right", "liver", "pancreas", "spleen",
          "stomach")
TRAIN_DIR, TEST_DIR = "train_npz", "test_vol_h5"
VAL_FRACTION, VAL_SEED = 0.15, 0
CACHE_VERSION = 1

_TRAIN_NAME = re.compile(r"^(?P<case>case\d+)_slice(?P<index>\d+)\.npz$")
_TEST_NAME = re.compile(r"^(?P<case>case\d+)\.npy\.h5$")


def is_synapse_dataset(path):
    return os.path.isdir(os.path.join(path, TRAIN_DIR)) or os.path.isdir(os.path.join(path, TEST_DIR))


def class_names(path):
    """The organ names of a Synapse-layout folder, else None."""
    return ORGANS if path and os.path.isdir(path) and is_synapse_dataset(path) else None


def cache_root():
    return os.environ.get("JMEDSEG_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "jmedseg-jt")


def _sources(root):
    """``(train, test)``: ``[(case, index, path)]`` sorted by case and slice, ``[(case, path)]`` sorted."""
    train, test = [], []
    folder = os.path.join(root, TRAIN_DIR)
    if os.path.isdir(folder):
        for name in os.listdir(folder):
            m = _TRAIN_NAME.match(name)
            if m:
                train.append((m.group("case"), int(m.group("index")), os.path.join(folder, name)))
    folder = os.path.join(root, TEST_DIR)
    if os.path.isdir(folder):
        for name in os.listdir(folder):
            m = _TEST_NAME.match(name)
            if m:
                test.append((m.group("case"), os.path.join(folder, name)))
    if not train:
        raise DataError(f"{root}: {TRAIN_DIR}/ holds no caseXXXX_sliceYYY.npz slices (the Synapse layout)")
    if not test:
        raise DataError(f"{root}: {TEST_DIR}/ holds no caseXXXX.npy.h5 volumes (the Synapse layout)")
    return sorted(train), sorted(test)


def _fingerprint(paths):
    out = []
    for p in paths:
        st = os.stat(p)
        out.append([os.path.basename(p), st.st_size, st.st_mtime_ns])
    return out


def _check_pair(image, label, path, where=""):
    """(uint8 image, uint8 label) of one slice, or a DataError naming the file."""
    image, label = np.asarray(image), np.asarray(label)
    if image.shape != label.shape:
        raise DataError(f"{path}{where}: image {image.shape} and label {label.shape} differ in shape")
    image = image.astype(np.float64)
    if not np.isfinite(image).all():
        raise DataError(f"{path}{where}: the image has NaN or infinite values")
    lo, hi = float(image.min()), float(image.max())
    if lo < -1e-6 or hi > 1 + 1e-6:
        raise DataError(f"{path}{where}: image values lie in [{lo:g}, {hi:g}]; the Synapse layout holds CT "
                        "windowed to [0, 1]")
    if label.dtype.kind == "f" and not np.all(np.mod(label, 1) == 0):
        raise DataError(f"{path}{where}: the label holds non-integer values")
    bad = [v for v in np.unique(label).tolist() if not 0 <= v < len(ORGANS)]
    if bad:
        raise DataError(f"{path}{where}: label values {bad[:10]} lie outside 0..{len(ORGANS) - 1}")
    return np.round(np.clip(image, 0, 1) * 255).astype(np.uint8), label.astype(np.uint8)


def _read_pair(path, opener, ndim, what, errors):
    """``(image, label)`` from the file ``opener(path)`` opens (a mapping with the two keys), the image
    ``ndim``-dimensional; every failure a :class:`DataError` naming the file."""
    try:
        with opener(path) as data:
            keys = list(data.keys())
            missing = [k for k in ("image", "label") if k not in keys]
            if missing:
                raise DataError(f"{path} has no {' or '.join(missing)} array (keys: {', '.join(keys)})")
            image, label = data["image"][()], data["label"][()]
    except DataError:
        raise
    except errors as e:
        raise DataError(f"cannot read {path}: {e}") from None
    if image.ndim != ndim:
        raise DataError(f"{path}: the image has shape {image.shape}; {what}")
    return image, label


def read_npz(path):
    """``(image, label)`` of a training slice (raw arrays)."""
    return _read_pair(path, np.load, 2, "a training slice is H x W", (OSError, ValueError, EOFError))


def read_h5(path):
    """``(image, label)`` of a test volume (D x H x W each)."""
    return _read_pair(path, lambda p: h5py.File(p, "r"), 3, "a test volume is D x H x W",
                      (OSError, ValueError, KeyError))


def val_cases(cases, fraction=VAL_FRACTION, seed=VAL_SEED):
    """The training cases held out for validation: a seeded choice of 15 % (at least one of two or more)."""
    cases = sorted(set(cases))
    if len(cases) < 2:
        return set()
    n = max(1, round(len(cases) * fraction))
    order = np.random.RandomState(seed).permutation(len(cases))
    return {cases[i] for i in order[:n]}


def _write(folder, stem, image, label):
    for sub, arr in (("images", image), ("masks", label)):
        path = os.path.join(folder, sub, f"{stem}.png")
        if not cv2.imwrite(path, arr):
            raise OutputError(f"cannot write {path} (the Synapse cache); check the space and permissions of "
                              f"{cache_root()}")


def convert(root, folder, train, test):
    """Write the slices of ``root`` as a folder dataset at ``folder`` (see the module docstring)."""
    for sub in ("images", "masks"):
        os.makedirs(os.path.join(folder, sub))
    rows, held_out = ["stem,split,case"], val_cases(c for c, _, _ in train)
    for case, index, path in train:
        image, label = _check_pair(*read_npz(path), path)
        stem = os.path.basename(path)[:-len(".npz")]
        _write(folder, stem, image, label)
        rows.append(f"{stem},{'val' if case in held_out else 'train'},{case}")
    train_stems = {r.split(",")[0] for r in rows[1:]}
    for case, path in test:
        images, labels = read_h5(path)
        if images.shape != np.shape(labels):
            raise DataError(f"{path}: image {images.shape} and label {np.shape(labels)} differ in shape")
        for z in range(images.shape[0]):
            image, label = _check_pair(images[z], labels[z], path, f", slice {z}")
            stem = f"{case}_slice{z:03d}"
            if stem in train_stems:
                raise DataError(f"{path}: {case} is also a training case ({stem}.npz); the splits must not share cases")
            _write(folder, stem, image, label)
            rows.append(f"{stem},test,{case}")
    with open(os.path.join(folder, "split.csv"), "w") as f:
        f.write("\n".join(rows) + "\n")


def prepare(root):
    """The folder dataset of the Synapse folder ``root``, converted on first use (or when it changed)."""
    root = os.path.abspath(root)
    train, test = _sources(root)
    record = {"version": CACHE_VERSION, "source": root,
              "train": _fingerprint(p for _, _, p in train), "test": _fingerprint(p for _, p in test)}
    key = hashlib.sha1(root.encode()).hexdigest()[:12]
    base = os.path.join(cache_root(), "synapse")
    folder = os.path.join(base, f"{os.path.basename(root) or 'synapse'}-{key}")
    stamp = os.path.join(folder, "source.json")
    if stamp_matches(stamp, record):
        return folder
    try:
        os.makedirs(base, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".converting-", dir=base)
    except OSError as e:
        raise OutputError(f"cannot make the Synapse cache under {base}: {e}; set JMEDSEG_CACHE to a writable "
                          "folder") from None
    try:
        print(f"converting the Synapse slices of {root} into {folder} (once)")
        convert(root, os.path.join(tmp, "data"), train, test)
        with open(os.path.join(tmp, "data", "source.json"), "w") as f:
            json.dump(record, f)
        if os.path.isdir(folder):
            shutil.rmtree(folder)
        os.replace(os.path.join(tmp, "data"), folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


@register_layout("synapse", detect=is_synapse_dataset,
                 description=f"{TRAIN_DIR}/caseXXXX_sliceYYY.npz and {TEST_DIR}/caseXXXX.npy.h5 (Synapse)")
def read_synapse_split(root, split):
    return read_folder_split(prepare(root), split)
