"""Augmentation on uint8 ``H x W x 3`` images (and, for geometric transforms, their masks).

``color_augmentation()`` is the original's ``--aug`` pipeline (``aug_for_unet``): with p = 0.8 a colour
jitter (brightness 0.4, contrast 0.4, saturation 0.4, hue 0.1, applied in random order), then with p = 0.5 a
Gaussian blur with sigma drawn from U(0.1, 2.0).  It changes the image only, so masks stay aligned.

``geometric_augmentation(flip, rotate, scale, elastic)`` (``run.py --geo-aug``) moves image and mask
together: a random horizontal flip, rotation and zoom about the centre combined into one affine warp, then an
optional elastic deformation.  Images are interpolated bilinearly, masks with nearest neighbour (no new label
values); pixels brought in from outside the image are 0 in both (air / background).

``ssl_augmentation()`` is the original's two-crop pipeline for contrastive pretraining (MoCo v2 style):
random resized crop (scale 0.2-1, ratio 3/4-4/3) back to the input size, colour jitter (p 0.8), Gaussian blur
(p 0.5) and a horizontal flip (p 0.5); :class:`TwoCrops` applies it twice to one image.

Every transform is a callable ``(image, mask) -> (image, mask)`` (``mask`` may be None) drawing from ``rng``
(a ``numpy.random.Generator``; the global NumPy generator, seeded by ``--seed``, when None).
"""
import cv2
import numpy as np


def _uniform(rng, lo, hi, size=None):
    return rng.uniform(lo, hi, size) if rng is not None else np.random.uniform(lo, hi, size)


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


# --------------------------------------------------------------------------------------------------- geometry
GEOMETRIC = ("flip", "rotate", "scale", "elastic")


def _warp_mask(mask, fn):
    """Apply an OpenCV warp ``fn(array, interpolation)`` to a label map with nearest neighbour."""
    if mask is None:
        return None
    small = mask.min() >= 0 and mask.max() < 256
    out = fn(mask.astype(np.uint8 if small else np.float32), cv2.INTER_NEAREST)
    return out.astype(mask.dtype)


def warp_affine_pair(image, mask, matrix):
    """Warp image (bilinear) and mask (nearest) with the 2 x 3 pixel-space ``matrix``; 0 outside."""
    h, w = image.shape[:2]

    def fn(a, interp):
        return cv2.warpAffine(a, matrix, (w, h), flags=interp, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return fn(image, cv2.INTER_LINEAR), _warp_mask(mask, fn)


def remap_pair(image, mask, map_x, map_y):
    """Resample image (bilinear) and mask (nearest) at float32 pixel maps; 0 outside."""
    def fn(a, interp):
        return cv2.remap(a, map_x, map_y, interpolation=interp, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return fn(image, cv2.INTER_LINEAR), _warp_mask(mask, fn)


class RandomAffine:
    """Random horizontal flip (p 0.5), rotation in ``[-rotate, rotate]`` degrees and zoom in
    ``[1 - scale, 1 + scale]`` about the image centre, applied as one warp.  0 / False switches a part off."""

    def __init__(self, flip=True, rotate=15.0, scale=0.15, rng=None):
        self.flip, self.rotate, self.scale, self.rng = bool(flip), float(rotate), float(scale), rng

    def matrix(self, h, w):
        """The 2 x 3 pixel-space matrix of one random draw."""
        angle = _uniform(self.rng, -self.rotate, self.rotate) if self.rotate else 0.0
        zoom = _uniform(self.rng, 1 - self.scale, 1 + self.scale) if self.scale else 1.0
        m = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), angle, zoom)
        if self.flip and _uniform(self.rng, 0.0, 1.0) < 0.5:
            flip = np.array([[-1.0, 0.0, w - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
            m = m @ flip
        return m

    def __call__(self, image, mask):
        if not (self.flip or self.rotate or self.scale):
            return image, mask
        return warp_affine_pair(image, mask, self.matrix(*image.shape[:2]))


class ElasticDeform:
    """Elastic deformation (Simard et al. 2003): a random displacement field smoothed with a Gaussian of
    ``sigma`` x image size and scaled so that its largest displacement is ``alpha`` x image size."""

    def __init__(self, alpha=0.04, sigma=0.08, rng=None):
        self.alpha, self.sigma, self.rng = alpha, sigma, rng

    def __call__(self, image, mask):
        h, w = image.shape[:2]
        size = max(h, w)
        fields = []
        for _ in range(2):
            noise = _uniform(self.rng, -1.0, 1.0, (h, w)).astype(np.float32)
            field = cv2.GaussianBlur(noise, (0, 0), sigmaX=self.sigma * size)
            fields.append(field * (self.alpha * size / (np.abs(field).max() + 1e-8)))
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        return remap_pair(image, mask, xx + fields[0], yy + fields[1])


def geometric_augmentation(flip=True, rotate=15.0, scale=0.15, elastic=True, p_elastic=0.5, rng=None):
    """Flip/rotate/zoom (always drawn; each part switchable) then, with ``p_elastic``, an elastic deformation.

    ``rotate``: max degrees (0 = off); ``scale``: max relative zoom (0 = off); ``elastic``: on/off.
    """
    parts = [RandomAffine(flip, rotate, scale, rng=rng)]
    if elastic:
        parts.append(RandomApply(ElasticDeform(rng=rng), p=p_elastic, rng=rng))
    return Compose(parts)


def parse_geometric(spec):
    """``"flip,rotate"`` / ``"all"`` / ``""`` -> the set of enabled parts; unknown names raise ValueError."""
    if not spec:
        return set()
    names = {s.strip().lower() for s in spec.split(",") if s.strip()}
    if "all" in names:
        return set(GEOMETRIC)
    bad = sorted(names - set(GEOMETRIC))
    if bad:
        raise ValueError(f"unknown geometric augmentation {', '.join(bad)}; use any of {', '.join(GEOMETRIC)} "
                         "or all, separated by commas")
    return names


def training_augmentation(color=False, geometric=(), rng=None):
    """What run.py applies to training samples: geometric parts (if any), then the colour pipeline (``--aug``);
    None when neither is asked for."""
    geometric = set(geometric)
    parts = []
    if geometric:
        parts.append(geometric_augmentation(flip="flip" in geometric, rotate=15.0 if "rotate" in geometric else 0,
                                            scale=0.15 if "scale" in geometric else 0,
                                            elastic="elastic" in geometric, rng=rng))
    if color:
        parts.append(color_augmentation(rng))
    return Compose(parts) if parts else None


# --------------------------------------------------------------------------------------------------- SSL
class RandomResizedCrop:
    """Crop a random region (area fraction in ``scale``, aspect ratio in ``ratio``, log-uniform) and resize it
    to ``size`` (default: the input's size), as torchvision's; after 10 failed draws, a centre crop."""

    def __init__(self, size=None, scale=(0.2, 1.0), ratio=(3 / 4, 4 / 3), rng=None):
        self.size, self.scale, self.ratio, self.rng = size, scale, ratio, rng

    def box(self, h, w):
        area = h * w
        for _ in range(10):
            target = area * _uniform(self.rng, *self.scale)
            aspect = np.exp(_uniform(self.rng, np.log(self.ratio[0]), np.log(self.ratio[1])))
            cw, ch = int(round(np.sqrt(target * aspect))), int(round(np.sqrt(target / aspect)))
            if 0 < cw <= w and 0 < ch <= h:
                top = int(_uniform(self.rng, 0, h - ch + 1))
                left = int(_uniform(self.rng, 0, w - cw + 1))
                return top, left, ch, cw
        aspect = w / h
        if aspect < self.ratio[0]:
            cw, ch = w, int(round(w / self.ratio[0]))
        elif aspect > self.ratio[1]:
            ch, cw = h, int(round(h * self.ratio[1]))
        else:
            ch, cw = h, w
        return (h - ch) // 2, (w - cw) // 2, ch, cw

    def __call__(self, image, mask):
        h, w = image.shape[:2]
        oh, ow = (self.size, self.size) if isinstance(self.size, int) else (self.size or (h, w))
        top, left, ch, cw = self.box(h, w)
        crop = image[top:top + ch, left:left + cw]
        out = cv2.resize(crop, (ow, oh), interpolation=cv2.INTER_LINEAR)
        if mask is not None:
            m = mask[top:top + ch, left:left + cw]
            mask = _warp_mask(m, lambda a, interp: cv2.resize(a, (ow, oh), interpolation=interp))
        return out, mask


class RandomHorizontalFlip:
    def __init__(self, p=0.5, rng=None):
        self.p, self.rng = p, rng

    def __call__(self, image, mask):
        if _uniform(self.rng, 0.0, 1.0) < self.p:
            image = np.ascontiguousarray(image[:, ::-1])
            mask = None if mask is None else np.ascontiguousarray(mask[:, ::-1])
        return image, mask


def ssl_augmentation(size=None, rng=None):
    """The original's contrastive-pretraining view: resized crop, colour jitter, blur, flip (no ImageNet
    normalisation: the views are scaled to [0, 1] like segmentation inputs)."""
    return Compose([
        RandomResizedCrop(size, scale=(0.2, 1.0), rng=rng),
        RandomApply(ColorJitter(0.4, 0.4, 0.4, 0.1, rng=rng), p=0.8, rng=rng),
        RandomApply(GaussianBlur((0.1, 2.0), rng=rng), p=0.5, rng=rng),
        RandomHorizontalFlip(0.5, rng=rng),
    ])


class TwoCrops:
    """Two independent views (query, key) of one image."""

    def __init__(self, transform):
        self.transform = transform

    def __call__(self, image):
        return self.transform(image, None)[0], self.transform(image, None)[0]
