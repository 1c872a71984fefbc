"""Samples, label mapping, resizing and the Jittor dataset that batches them."""
import os
from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np

from utils import runtime  # noqa: F401
import jittor as jt
from jittor.dataset import Dataset

from utils.errors import DataError
from .io import image_size, read_image, read_mask

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


def parse_label_map(text):
    """``"0:0,128:1,255:2"`` -> ``{0: 0, 128: 1, 255: 2}`` (stored mask value -> class id)."""
    if text is None:
        return None
    out = {}
    try:
        for item in text.split(","):
            value, cls = item.split(":")
            out[int(value)] = int(cls)
    except ValueError:
        raise DataError(f"--label-map {text!r}: write value:class pairs such as 0:0,128:1,255:2") from None
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


class SegDataset(Dataset):
    """Jittor dataset over :class:`Sample` s.

    ``__getitem__`` returns ``(image, mask, index)``: image ``3 x H x W`` float32 in [0, 1] (no mean/std
    normalisation, as the original), mask ``H x W`` int32 class ids (zeros when the sample has no mask) and the
    sample's index, so that per-case metrics and output names can be looked up.  Decoded (and resized) images
    are kept in memory up to ``cache_mb``.  ``augment(image_uint8, mask) -> (image_uint8, mask)`` is applied
    to training samples.  Under MPI, Jittor's ``Dataset`` gives each rank its own part of every batch.
    """

    def __init__(self, samples, n_classes=2, img_size=None, augment=None, batch_size=1, shuffle=False,
                 drop_last=False, cache_mb=2048, need_masks=True, label_map=None):
        super().__init__()
        self.samples = list(samples)
        self.n_classes = n_classes
        self.label_map = label_map
        self.img_size = img_size
        self.augment = augment
        self.need_masks = need_masks
        self._cache = {}
        self._cache_bytes = 0
        self._cache_limit = cache_mb * 2 ** 20
        self.set_attrs(batch_size=batch_size, shuffle=shuffle, drop_last=drop_last,
                       total_len=len(self.samples))

    def load(self, index):
        """(uint8 H x W x 3 image, int64 H x W mask or None) after label mapping and resizing."""
        if index in self._cache:
            return self._cache[index]
        s = self.samples[index]
        image = read_image(s.image)
        mask = None
        if self.need_masks:
            mask = read_mask(s.mask)
            if mask.shape != image.shape[:2]:
                raise DataError(f"mask {s.mask} is {mask.shape[0]}x{mask.shape[1]} but image {s.image} is "
                                f"{image.shape[0]}x{image.shape[1]}")
            mask = map_labels(mask, self.n_classes, s.mask, self.label_map)
        image, mask = resize_pair(image, mask, self.img_size)
        nbytes = image.nbytes + (mask.nbytes if mask is not None else 0)
        if self._cache_bytes + nbytes <= self._cache_limit:
            self._cache[index] = (image, mask)
            self._cache_bytes += nbytes
        return image, mask

    def preload(self, desc="checking data"):
        """Read every sample once (labels checked, images cached), so bad files stop a run before it starts."""
        from tqdm import tqdm
        for i in tqdm(range(len(self.samples)), desc=desc, leave=False, unit="image"):
            self.load(i)
        return self

    def iter_all(self):
        """Batches of every sample in order, as ``(images, masks, indices)`` Jittor arrays — not shuffled and
        not divided among MPI ranks (Jittor's own iterator does both), for evaluation on one process."""
        for start in range(0, len(self.samples), self.batch_size):
            items = [self[i] for i in range(start, min(start + self.batch_size, len(self.samples)))]
            yield tuple(jt.array(np.stack(column)) for column in zip(*items))

    def n_batches_all(self):
        return -(-len(self.samples) // self.batch_size)

    def __getitem__(self, index):
        image, mask = self.load(index)
        if mask is None:
            mask = np.zeros(image.shape[:2], np.int64)
        if self.augment is not None:
            image, mask = self.augment(image, mask)
        x = np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32) / 255.0
        return x, mask.astype(np.int32), index
