"""The Jittor dataset that batches :class:`~dataset.base.Sample` s for training and evaluation."""
import numpy as np
from tqdm import tqdm

import jittor as jt
from jittor.dataset import Dataset

from utils.errors import DataError
from .base import map_labels, resize_pair
from .io import read_image, read_mask


class SegDataset(Dataset):
    """Jittor dataset over :class:`Sample` s.

    ``__getitem__`` returns ``(image, mask, index)``: image ``3 x H x W`` float32 in [0, 1] (no mean/std
    normalisation, as the original), mask ``H x W`` int32 class ids (zeros when the sample has no mask) and the
    sample's index, so that per-case metrics and output names can be looked up.  Decoded (and resized) images
    are kept in memory up to ``cache_mb``.  ``augment(image_uint8, mask) -> (image_uint8, mask)`` is applied
    to training samples; when ``augment_seed`` is set (``pipeline.engine.seed_epoch`` sets it to
    ``(seed, epoch)``), the augmentation of sample ``i`` is reseeded from ``(*augment_seed, i)`` first, so it
    depends on nothing but the seed, the epoch and the sample.  Under MPI, Jittor's ``Dataset`` gives each rank
    its own part of every batch.
    """

    def __init__(self, samples, n_classes=2, img_size=None, augment=None, batch_size=1, shuffle=False,
                 drop_last=False, cache_mb=2048, need_masks=True, label_map=None):
        super().__init__()
        self.samples = list(samples)
        self.n_classes = n_classes
        self.label_map = label_map
        self.img_size = img_size
        self.augment = augment
        self.augment_seed = None
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
            if self.augment_seed is not None:
                self.augment.set_random_state([*self.augment_seed, index])
            image, mask = self.augment(image, mask)
        x = np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32) / 255.0
        return x, mask.astype(np.int32), index
