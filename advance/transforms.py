"""The base of every image transform: training augmentation (:mod:`advance.augment`) and the robustness
perturbations (:mod:`advance.robust`) alike, plus the one warp helper they share.

A transform is a callable ``(image, mask) -> (image, mask)`` on a uint8 ``H x W x 3`` image and its ``H x W``
label map (``mask`` may be None). A random transform (:class:`RandomTransform`, as MONAI's randomizable
transforms) owns a ``numpy.random.Generator``:

* ``p``: the probability that the transform is applied at all (drawn first, only when ``p < 1``);
* :meth:`RandomTransform.randomize` draws the parameters of one application from ``self.rng``;
* :meth:`RandomTransform.set_random_state` reseeds it. :class:`Compose` shares one generator between its
  parts, so a pipeline seeded once draws a reproducible sequence.

A transform given no generator draws from its own, seeded 0 (so results never depend on NumPy's global
state). The training loader reseeds its augmentation for every sample from ``(seed, epoch, sample index)``
(``dataset.loader.SegDataset``), so a sample's augmentation depends on nothing else (batch order, MPI rank,
an interruption and ``--resume``); the robustness benchmark seeds each perturbed image from ``(seed, index)``.

Geometry: :func:`warp_pair` moves image and mask with one OpenCV warp, the image interpolated bilinearly and
the mask with nearest neighbour (no new label values); pixels brought in from outside are ``border`` in the
image (0 = air) and 0 (background) in the mask.
"""
import cv2
import numpy as np


def generator(rng=None):
    """``rng`` itself, or a generator seeded 0 when None (the one fallback of every transform)."""
    return rng if rng is not None else np.random.default_rng(0)


class Transform:
    """A deterministic transform: subclasses define ``apply(image, mask) -> (image, mask)``."""

    def __call__(self, image, mask=None):
        return self.apply(image, mask)

    def apply(self, image, mask):
        raise NotImplementedError

    def set_random_state(self, seed=None, rng=None):
        """Nothing to seed (a deterministic transform); returns ``self`` for chaining."""
        return self


class RandomTransform(Transform):
    """A transform with random parameters drawn from its own generator; applied with probability ``p``."""

    def __init__(self, p=1.0, rng=None):
        self.p = float(p)
        self.rng = generator(rng)

    def set_random_state(self, seed=None, rng=None):
        """Draw from ``rng``, or from a new generator seeded with ``seed`` (an int or a sequence of ints)."""
        self.rng = rng if rng is not None else np.random.default_rng(seed)
        return self

    def uniform(self, low=0.0, high=1.0, size=None):
        return self.rng.uniform(low, high, size)

    def randomize(self, image):
        """Draw the parameters of one application (stored on ``self``); nothing by default."""

    def __call__(self, image, mask=None):
        if self.p < 1.0 and not self.uniform() < self.p:
            return image, mask
        self.randomize(image)
        return self.apply(image, mask)


class Compose(Transform):
    """Apply ``transforms`` in order, all drawing from one shared generator (``rng``, or one seeded 0)."""

    def __init__(self, transforms, rng=None):
        self.transforms = list(transforms)
        self.set_random_state(rng=generator(rng))

    def set_random_state(self, seed=None, rng=None):
        shared = rng if rng is not None else np.random.default_rng(seed)
        for t in self.transforms:
            t.set_random_state(rng=shared)
        return self

    def apply(self, image, mask):
        for t in self.transforms:
            image, mask = t(image, mask)
        return image, mask


# --------------------------------------------------------------------------------------------------- geometry
def warp_labels(mask, warp):
    """Apply ``warp(array, interpolation)`` to a label map with nearest neighbour, keeping its dtype."""
    if mask is None:
        return None
    small = mask.min() >= 0 and mask.max() < 256
    out = warp(mask.astype(np.uint8 if small else np.float32), cv2.INTER_NEAREST)
    return out.astype(mask.dtype)


def warp_pair(image, mask, warp, border=0):
    """Move image and mask with ``warp(array, interpolation, border_value) -> array`` (see the module
    docstring: bilinear image with ``border`` outside, nearest mask with 0 outside)."""
    return warp(image, cv2.INTER_LINEAR, border), warp_labels(mask, lambda a, interp: warp(a, interp, 0))


def warp_matrix(image, mask, matrix, border=0):
    """:func:`warp_pair` with a pixel-space ``matrix``: 2 x 3 is an affine warp, 3 x 3 a perspective one."""
    h, w = image.shape[:2]
    matrix = np.asarray(matrix)
    fn = cv2.warpAffine if matrix.shape == (2, 3) else cv2.warpPerspective

    def warp(a, interp, value):
        return fn(a, matrix, (w, h), flags=interp, borderMode=cv2.BORDER_CONSTANT, borderValue=(value,) * 3)
    return warp_pair(image, mask, warp, border)


def remap_pair(image, mask, map_x, map_y):
    """:func:`warp_pair` sampling at the float32 pixel maps ``map_x``, ``map_y``."""
    def warp(a, interp, value):
        return cv2.remap(a, map_x, map_y, interpolation=interp, borderMode=cv2.BORDER_CONSTANT,
                         borderValue=(value,) * 3)
    return warp_pair(image, mask, warp)
