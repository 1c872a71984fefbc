"""Augmentation on uint8 ``H x W x 3`` images (and, for geometric transforms, their masks).

``color_augmentation()`` is the original's ``--aug`` pipeline (``aug_for_unet``): with p = 0.8 a colour
jitter (brightness 0.4, contrast 0.4, saturation 0.4, hue 0.1, applied in random order), then with p = 0.5 a
Gaussian blur with sigma drawn from U(0.1, 2.0).  It changes the image only, so masks stay aligned.

Every transform is a callable ``(image, mask) -> (image, mask)`` drawing from ``rng`` (a
``numpy.random.Generator``; the global NumPy generator, seeded by ``--seed``, when None).
"""
import cv2
import numpy as np


def _uniform(rng, lo, hi):
    return rng.uniform(lo, hi) if rng is not None else np.random.uniform(lo, hi)


def _gray(img):
    return img @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def adjust_brightness(img, factor):
    return img * factor


def adjust_contrast(img, factor):
    mean = _gray(img).mean()
    return (img - mean) * factor + mean


def adjust_saturation(img, factor):
    gray = _gray(img)[..., None]
    return (img - gray) * factor + gray


def adjust_hue(img, shift):
    """Rotate the hue by ``shift`` turns (in [-0.5, 0.5]); float image in [0, 255]."""
    if shift == 0:
        return img
    hsv = cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = np.mod(hsv[..., 0] + shift * 180.0, 180.0)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)


class ColorJitter:
    """Random brightness, contrast and saturation factors in ``[max(0, 1 - v), 1 + v]`` and a hue shift in
    ``[-hue, hue]``, applied in a random order (as torchvision/Jittor do)."""

    def __init__(self, brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1, rng=None):
        self.brightness, self.contrast, self.saturation, self.hue = brightness, contrast, saturation, hue
        self.rng = rng

    def __call__(self, image, mask):
        rng = self.rng
        ops = [
            (adjust_brightness, _uniform(rng, max(0.0, 1 - self.brightness), 1 + self.brightness)),
            (adjust_contrast, _uniform(rng, max(0.0, 1 - self.contrast), 1 + self.contrast)),
            (adjust_saturation, _uniform(rng, max(0.0, 1 - self.saturation), 1 + self.saturation)),
            (adjust_hue, _uniform(rng, -self.hue, self.hue)),
        ]
        order = rng.permutation(4) if rng is not None else np.random.permutation(4)
        img = image.astype(np.float32)
        for i in order:
            fn, value = ops[i]
            img = fn(img, value)
        return np.clip(np.round(img), 0, 255).astype(np.uint8), mask


class GaussianBlur:
    """Gaussian blur with sigma drawn from ``U(sigma_min, sigma_max)``."""

    def __init__(self, sigma=(0.1, 2.0), rng=None):
        self.sigma, self.rng = sigma, rng

    def __call__(self, image, mask):
        s = _uniform(self.rng, *self.sigma)
        return cv2.GaussianBlur(image, (0, 0), sigmaX=s, sigmaY=s), mask


class RandomApply:
    """Apply ``transform`` with probability ``p``."""

    def __init__(self, transform, p, rng=None):
        self.transform, self.p, self.rng = transform, p, rng

    def __call__(self, image, mask):
        if _uniform(self.rng, 0.0, 1.0) < self.p:
            return self.transform(image, mask)
        return image, mask


class Compose:
    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, image, mask):
        for t in self.transforms:
            image, mask = t(image, mask)
        return image, mask


def color_augmentation(rng=None):
    """The original's ``--aug`` pipeline (image only)."""
    return Compose([
        RandomApply(ColorJitter(0.4, 0.4, 0.4, 0.1, rng=rng), p=0.8, rng=rng),
        RandomApply(GaussianBlur((0.1, 2.0), rng=rng), p=0.5, rng=rng),
    ])
