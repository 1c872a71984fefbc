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

Every transform is a :class:`~advance.transforms.RandomTransform`: a callable ``(image, mask) -> (image, mask)``
(``mask`` may be None) drawing from its generator ``rng`` (its own, seeded 0, when None; the training loader
reseeds it for every sample from ``--seed``, the epoch and the sample).
"""
import cv2
import numpy as np

from utils.registry import Registry

from .transforms import Compose, RandomTransform, remap_pair, warp_labels, warp_matrix


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


class ColorJitter(RandomTransform):
    """Random brightness, contrast and saturation factors in ``[max(0, 1 - v), 1 + v]`` and a hue shift in
    ``[-hue, hue]``, applied in a random order (as torchvision/Jittor do)."""

    def __init__(self, brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1, p=1.0, rng=None):
        super().__init__(p, rng)
        self.brightness, self.contrast, self.saturation, self.hue = brightness, contrast, saturation, hue

    def randomize(self, image):
        self.ops = [
            (adjust_brightness, self.uniform(max(0.0, 1 - self.brightness), 1 + self.brightness)),
            (adjust_contrast, self.uniform(max(0.0, 1 - self.contrast), 1 + self.contrast)),
            (adjust_saturation, self.uniform(max(0.0, 1 - self.saturation), 1 + self.saturation)),
            (adjust_hue, self.uniform(-self.hue, self.hue)),
        ]
        self.order = self.rng.permutation(4)

    def apply(self, image, mask):
        img = image.astype(np.float32)
        for i in self.order:
            fn, value = self.ops[i]
            img = fn(img, value)
        return np.clip(np.round(img), 0, 255).astype(np.uint8), mask


class GaussianBlur(RandomTransform):
    """Gaussian blur with sigma drawn from ``U(sigma_min, sigma_max)``."""

    def __init__(self, sigma=(0.1, 2.0), p=1.0, rng=None):
        super().__init__(p, rng)
        self.sigma = sigma

    def randomize(self, image):
        self.s = self.uniform(*self.sigma)

    def apply(self, image, mask):
        return cv2.GaussianBlur(image, (0, 0), sigmaX=self.s, sigmaY=self.s), mask


def color_augmentation(rng=None):
    """The original's ``--aug`` pipeline (image only): colour jitter at p 0.8, then a blur at p 0.5."""
    return Compose([ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8), GaussianBlur((0.1, 2.0), p=0.5)], rng)


# --------------------------------------------------------------------------------------------------- geometry
class RandomAffine(RandomTransform):
    """Random horizontal flip (p 0.5), rotation in ``[-rotate, rotate]`` degrees and zoom in
    ``[1 - scale, 1 + scale]`` about the image centre, applied as one warp.  0 / False switches a part off."""

    def __init__(self, flip=True, rotate=15.0, scale=0.15, rng=None):
        super().__init__(1.0, rng)
        self.flip, self.rotate, self.scale = bool(flip), float(rotate), float(scale)

    def matrix(self, h, w):
        """The 2 x 3 pixel-space matrix of one random draw."""
        angle = self.uniform(-self.rotate, self.rotate) if self.rotate else 0.0
        zoom = self.uniform(1 - self.scale, 1 + self.scale) if self.scale else 1.0
        m = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), angle, zoom)
        if self.flip and self.uniform() < 0.5:
            flip = np.array([[-1.0, 0.0, w - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
            m = m @ flip
        return m

    def randomize(self, image):
        self.m = self.matrix(*image.shape[:2]) if (self.flip or self.rotate or self.scale) else None

    def apply(self, image, mask):
        if self.m is None:
            return image, mask
        return warp_matrix(image, mask, self.m)


class ElasticDeform(RandomTransform):
    """Elastic deformation (Simard et al. 2003): a random displacement field smoothed with a Gaussian of
    ``sigma`` x image size and scaled so that its largest displacement is ``alpha`` x image size."""

    def __init__(self, alpha=0.04, sigma=0.08, p=1.0, rng=None):
        super().__init__(p, rng)
        self.alpha, self.sigma = alpha, sigma

    def randomize(self, image):
        h, w = image.shape[:2]
        size = max(h, w)
        self.fields = []
        for _ in range(2):
            noise = self.uniform(-1.0, 1.0, (h, w)).astype(np.float32)
            field = cv2.GaussianBlur(noise, (0, 0), sigmaX=self.sigma * size)
            self.fields.append(field * (self.alpha * size / (np.abs(field).max() + 1e-8)))

    def apply(self, image, mask):
        h, w = image.shape[:2]
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        return remap_pair(image, mask, xx + self.fields[0], yy + self.fields[1])


def geometric_augmentation(flip=True, rotate=15.0, scale=0.15, elastic=True, p_elastic=0.5, rng=None):
    """Flip/rotate/zoom (always drawn; each part switchable) then, with ``p_elastic``, an elastic deformation.

    ``rotate``: max degrees (0 = off); ``scale``: max relative zoom (0 = off); ``elastic``: on/off.
    """
    parts = [RandomAffine(flip, rotate, scale)]
    if elastic:
        parts.append(ElasticDeform(p=p_elastic))
    return Compose(parts, rng)


# ``--geo-aug`` parts: name -> the keywords of :func:`geometric_augmentation` that switch it on.
GEOMETRIC = Registry("geometric augmentation")
GEOMETRIC.add("flip", {"flip": True})
GEOMETRIC.add("rotate", {"rotate": 15.0})
GEOMETRIC.add("scale", {"scale": 0.15})
GEOMETRIC.add("elastic", {"elastic": True})


def parse_geometric(spec):
    """``"flip,rotate"`` / ``"all"`` / ``""`` -> the set of enabled parts; an unknown name raises
    :class:`~utils.errors.ConfigError` naming the valid ones."""
    return set(GEOMETRIC.parse_list(spec and spec.lower(), "--geo-aug"))


def training_augmentation(color=False, geometric=(), rng=None):
    """What run.py applies to training samples: geometric parts (if any), then the colour pipeline (``--aug``);
    None when neither is asked for."""
    parts = []
    if geometric:
        kw = dict(flip=False, rotate=0.0, scale=0.0, elastic=False)
        for name in geometric:
            kw.update(GEOMETRIC.get(name, "--geo-aug"))
        parts.append(geometric_augmentation(**kw))
    if color:
        parts.append(color_augmentation())
    if not parts:
        return None
    return Compose(parts, rng)


# --------------------------------------------------------------------------------------------------- SSL
class RandomResizedCrop(RandomTransform):
    """Crop a random region (area fraction in ``scale``, aspect ratio in ``ratio``, log-uniform) and resize it
    to ``size`` (default: the input's size), as torchvision's; after 10 failed draws, a centre crop."""

    def __init__(self, size=None, scale=(0.2, 1.0), ratio=(3 / 4, 4 / 3), rng=None):
        super().__init__(1.0, rng)
        self.size, self.scale, self.ratio = size, scale, ratio

    def box(self, h, w):
        area = h * w
        for _ in range(10):
            target = area * self.uniform(*self.scale)
            aspect = np.exp(self.uniform(np.log(self.ratio[0]), np.log(self.ratio[1])))
            cw, ch = int(round(np.sqrt(target * aspect))), int(round(np.sqrt(target / aspect)))
            if 0 < cw <= w and 0 < ch <= h:
                top = int(self.uniform(0, h - ch + 1))
                left = int(self.uniform(0, w - cw + 1))
                return top, left, ch, cw
        aspect = w / h
        if aspect < self.ratio[0]:
            cw, ch = w, int(round(w / self.ratio[0]))
        elif aspect > self.ratio[1]:
            ch, cw = h, int(round(h * self.ratio[1]))
        else:
            ch, cw = h, w
        return (h - ch) // 2, (w - cw) // 2, ch, cw

    def randomize(self, image):
        self.crop = self.box(*image.shape[:2])

    def apply(self, image, mask):
        h, w = image.shape[:2]
        oh, ow = (self.size, self.size) if isinstance(self.size, int) else (self.size or (h, w))
        top, left, ch, cw = self.crop
        out = cv2.resize(image[top:top + ch, left:left + cw], (ow, oh), interpolation=cv2.INTER_LINEAR)
        if mask is not None:
            mask = warp_labels(mask[top:top + ch, left:left + cw],
                               lambda a, interp: cv2.resize(a, (ow, oh), interpolation=interp))
        return out, mask


class RandomHorizontalFlip(RandomTransform):
    def __init__(self, p=0.5, rng=None):
        super().__init__(p, rng)

    def apply(self, image, mask):
        image = np.ascontiguousarray(image[:, ::-1])
        mask = None if mask is None else np.ascontiguousarray(mask[:, ::-1])
        return image, mask


def ssl_augmentation(size=None, rng=None):
    """The original's contrastive-pretraining view: resized crop, colour jitter, blur, flip (no ImageNet
    normalisation: the views are scaled to [0, 1] like segmentation inputs)."""
    return Compose([
        RandomResizedCrop(size, scale=(0.2, 1.0)),
        ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8),
        GaussianBlur((0.1, 2.0), p=0.5),
        RandomHorizontalFlip(0.5),
    ], rng)


class TwoCrops:
    """Two independent views (query, key) of one image."""

    def __init__(self, transform):
        self.transform = transform

    def set_random_state(self, seed=None, rng=None):
        self.transform.set_random_state(seed, rng)
        return self

    def __call__(self, image):
        return self.transform(image, None)[0], self.transform(image, None)[0]
