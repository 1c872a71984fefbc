"""Any folder of images and masks: ``images/<stem>.<ext>`` and ``masks/<stem>.<ext>``.

Extensions: png, jpg, jpeg, tif, tiff, bmp, npy (image and mask may differ).  Masks hold class ids or 0/255.
An optional ``split.csv`` has a header row with a ``stem`` column, a ``split`` column (train/val/test) and an
optional ``case`` column (patient id: per-case metrics).  Without it, cases are split 70/15/15 by a fixed seed
(patients' slices never straddle splits).
"""
import csv
import os

import numpy as np

from utils.errors import DataError
from .base import SPLITS, Sample
from .io import IMAGE_EXTS, find_with_stem
from .registry import register_layout

SPLIT_SEED = 0
SPLIT_FRACTIONS = (0.7, 0.15, 0.15)


def is_folder_dataset(path):
    return os.path.isdir(os.path.join(path, "images"))


def _stems(folder):
    out = {}
    for name in sorted(os.listdir(folder)):
        stem, ext = os.path.splitext(name)
        if ext.lower() in IMAGE_EXTS and os.path.isfile(os.path.join(folder, name)):
            if stem in out:
                raise DataError(f"{folder} has several images named {stem!r}.*; keep one")
            out[stem] = os.path.join(folder, name)
    return out


def _read_split_csv(path):
    """Rows of ``split.csv`` (a UTF-8 byte-order mark and spaces around the commas are accepted); a stem listed
    twice is an error naming it, since its image would land in two splits."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = [{(k or "").strip(): (v or "").strip() for k, v in row.items()}
                    for row in csv.DictReader(f, skipinitialspace=True)]
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read {path}: {e}") from None
    if not rows or "stem" not in rows[0] or "split" not in rows[0]:
        raise DataError(f"{path} needs a header row with the columns stem,split (and optionally case)")
    first = {}
    for i, row in enumerate(rows, start=2):
        if row["split"] not in SPLITS:
            raise DataError(f"{path}, line {i}: split {row['split']!r} is not one of {', '.join(SPLITS)}")
        if row["stem"] in first:
            raise DataError(f"{path}, line {i}: stem {row['stem']!r} is listed again (first on line "
                            f"{first[row['stem']]}); each image belongs to one split")
        first[row["stem"]] = i
    return rows


def seeded_split(cases, seed=SPLIT_SEED, fractions=SPLIT_FRACTIONS):
    """{case: split} for a list of case ids: a seeded permutation cut 70/15/15 (each split non-empty when
    there are at least three cases)."""
    cases = sorted(set(cases))
    order = [cases[i] for i in np.random.RandomState(seed).permutation(len(cases))]
    n = len(order)
    n_val = max(1, round(n * fractions[1])) if n >= 3 else 0
    n_test = max(1, round(n * fractions[2])) if n >= 3 else 0
    n_train = n - n_val - n_test
    assign = ["train"] * n_train + ["val"] * n_val + ["test"] * n_test
    return dict(zip(order, assign))


@register_layout("folder", detect=is_folder_dataset, description="images/ and masks/")
def read_folder_split(root, split):
    """Samples of ``split`` in the folder dataset at ``root``."""
    img_dir, mask_dir = os.path.join(root, "images"), os.path.join(root, "masks")
    if not os.path.isdir(img_dir):
        raise DataError(f"{root} has no images/ folder (a folder dataset needs images/ and masks/)")
    images = _stems(img_dir)
    if not images:
        raise DataError(f"{img_dir} holds no images ({', '.join(IMAGE_EXTS)})")
    csv_path = os.path.join(root, "split.csv")
    if os.path.isfile(csv_path):
        rows = _read_split_csv(csv_path)
        chosen = []
        for row in rows:
            if row["split"] != split:
                continue
            stem = row["stem"]
            if stem not in images:
                raise DataError(f"{csv_path} lists {stem!r} but {img_dir} has no image with that stem")
            chosen.append((stem, row.get("case") or None))
    else:
        assign = seeded_split(images)
        chosen = [(stem, None) for stem in images if assign[stem] == split]
    samples = []
    for stem, case in chosen:
        mask = find_with_stem(mask_dir, stem) if os.path.isdir(mask_dir) else None
        samples.append(Sample(stem=stem, image=images[stem],
                              mask=mask or os.path.join(mask_dir, stem + ".png"), case=case))
    if not samples:
        raise DataError(f"{root}: the {split} split is empty")
    return samples
