"""Samples, label mapping, resizing and checks: what every reader and the loader share (no Jittor here)."""
import json
import os
from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np

from utils.errors import DataError
from .io import image_size

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Sample:
    """One image (and its mask, when known) of a split."""
    stem: str                    # unique name within the dataset; used for output file names
    image: str                   # image path
    mask: Optional[str] = None   # mask path (None for prediction on images only)
    case: Optional[str] = None   # patient / volume id (per-case metrics); the stem when unknown

    @property
    def case_id(self):
        return self.case if self.case is not None else self.stem



def stamp_matches(path, record):
    """True when the JSON file ``path`` (a generated folder's stamp) holds ``record``; False when it differs,
    is missing or unreadable (the folder is then generated anew)."""
    try:
        with open(path) as f:
            return json.load(f) == record
    except (OSError, ValueError):
        return False


def parse_label_map(text, n_classes=None):
    """``"0:0,128:1,255:2"`` -> ``{0: 0, 128: 1, 255: 2}`` (stored mask value -> class id).

    Every value may be mapped once, values are non-negative, and (given ``n_classes``) classes lie in
    ``0..n_classes-1``; anything else is a :class:`DataError` naming the entry.
    """
    if text is None:
        return None
    out = {}
    for item in text.split(","):
        try:
            value, cls = (int(part) for part in item.split(":"))
        except ValueError:
            raise DataError(f"--label-map {text!r}: write value:class pairs such as 0:0,128:1,255:2") from None
        if value < 0:
            raise DataError(f"--label-map {text!r}: mask value {value} is negative; masks store values >= 0")
        if value in out:
            raise DataError(f"--label-map {text!r}: mask value {value} is mapped twice ({out[value]} and {cls})")
        if cls < 0:
            raise DataError(f"--label-map {text!r}: class {cls} is negative")
        if n_classes is not None and cls >= n_classes:
            raise DataError(f"--label-map {text!r}: class {cls} is outside 0..{n_classes - 1} for -c {n_classes}")
        out[value] = cls
    return out


def map_labels(mask, n_classes, path="", label_map=None):
    """Class ids in ``[0, n_classes)``.

    With ``label_map`` ({stored value: class}) every value must be in the map.  Without it, values already in
    ``[0, n_classes)`` are kept and a binary mask stored as 0/255 becomes 0/1.  Anything else is an error that
    names the file and the values found.
    """
    values = np.unique(mask)
    if label_map is not None:
        unknown = [int(v) for v in values if int(v) not in label_map]
        if unknown:
            raise DataError(f"mask {path} has values {unknown[:10]} that --label-map does not map")
        bad = sorted({c for c in label_map.values() if not 0 <= c < n_classes})
        if bad:
            raise DataError(f"--label-map maps to classes {bad} outside 0..{n_classes - 1} for -c {n_classes}")
        lut = np.zeros(int(max(label_map)) + 1, dtype=np.int64)
        for v, c in label_map.items():
            lut[v] = c
        return lut[mask]
    if values.size and values.min() >= 0 and values.max() < n_classes:
        return mask
    if n_classes == 2 and set(values.tolist()) <= {0, 255}:
        return (mask == 255).astype(mask.dtype)
    bad = [int(v) for v in values if v < 0 or v >= n_classes][:10]
    hint = " (0/255 masks are read as binary only with -c 2)" if 255 in bad else ""
    raise DataError(f"mask {path} has label values {bad} outside 0..{n_classes - 1} for -c {n_classes}{hint}")


def resize_pair(image, mask, size):
    """Resize to ``size`` x ``size``: the image with area/bilinear interpolation, the mask nearest."""
    if size is None or (image.shape[0] == size and image.shape[1] == size):
        return image, mask
    shrink = image.shape[0] > size or image.shape[1] > size
    image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    if mask is not None:
        mask = cv2.resize(mask.astype(np.int32), (size, size), interpolation=cv2.INTER_NEAREST).astype(np.int64)
    return image, mask


def check_samples(samples, img_size=None, need_masks=True, what="dataset"):
    """Check every file exists, is readable (header) and that mask and image sizes agree.

    Returns the set of image sizes found (after ``img_size``).  Only headers are read, so this is quick.
    """
    sizes = set()
    for s in samples:
        if not os.path.isfile(s.image):
            raise DataError(f"{what}: image not found: {s.image}")
        hw = image_size(s.image)
        if need_masks:
            if s.mask is None or not os.path.isfile(s.mask):
                raise DataError(f"{what}: mask missing for image {s.image}" + (f" (expected {s.mask})" if s.mask else ""))
            mhw = image_size(s.mask)
            if mhw != hw:
                raise DataError(f"{what}: mask {s.mask} is {mhw[0]}x{mhw[1]} but image {s.image} is "
                                f"{hw[0]}x{hw[1]}; they must have the same size")
        sizes.add((img_size, img_size) if img_size else hw)
    return sizes
