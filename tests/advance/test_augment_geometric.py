"""Geometric augmentation moves image and mask together; the SSL two-crop views."""
import numpy as np
import pytest

from advance.augment import (ElasticDeform, RandomAffine, RandomResizedCrop, TwoCrops, geometric_augmentation,
                             parse_geometric, ssl_augmentation, training_augmentation)


def labelled_pair(size=48):
    """A 3-class mask and an image whose red/green channels encode classes 1/2, so alignment can be read back."""
    mask = np.zeros((size, size), np.int64)
    mask[8:30, 10:26] = 1
    mask[20:40, 28:44] = 2
    image = np.zeros((size, size, 3), np.uint8)
    image[..., 0] = 250 * (mask == 1)
    image[..., 1] = 250 * (mask == 2)
    image[..., 2] = 60
    return image, mask


def decoded(image):
    return (image[..., 0] > 125) * 1 + (image[..., 1] > 125) * 2


def interior(mask):
    """Pixels whose 3x3 neighbourhood has one label (bilinear and nearest may disagree on edges only)."""
    pad = np.pad(mask, 1, mode="edge")
    same = np.ones_like(mask, bool)
    for dy in range(3):
        for dx in range(3):
            same &= pad[dy:dy + mask.shape[0], dx:dx + mask.shape[1]] == mask
    return same


TRANSFORMS = {
    "flip": lambda rng: RandomAffine(flip=True, rotate=0, scale=0, rng=rng),
    "rotate": lambda rng: RandomAffine(flip=False, rotate=30, scale=0, rng=rng),
    "scale": lambda rng: RandomAffine(flip=False, rotate=0, scale=0.3, rng=rng),
    "elastic": lambda rng: ElasticDeform(alpha=0.05, sigma=0.1, rng=rng),
    "all": lambda rng: geometric_augmentation(rng=rng, p_elastic=1.0),
}


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_geometric_augmentation_keeps_image_and_mask_aligned(name):
    image, mask = labelled_pair()
    changed = 0
    for seed in range(6):
        out, m = TRANSFORMS[name](np.random.default_rng(seed))(image, mask)
        assert out.shape == image.shape and out.dtype == np.uint8
        assert m.shape == mask.shape and m.dtype == mask.dtype
        assert set(np.unique(m)) <= {0, 1, 2}  # nearest neighbour: no interpolated labels
        inside = interior(m)
        np.testing.assert_array_equal(decoded(out)[inside], m[inside])
        changed += int((m != mask).any())
    assert changed >= 2  # the transform really moves things


def test_identity_settings_and_flip_geometry():
    image, mask = labelled_pair()
    out, m = RandomAffine(flip=False, rotate=0, scale=0)(image, mask)
    assert out is image and m is mask
    flips = [RandomAffine(flip=True, rotate=0, scale=0, rng=np.random.default_rng(s))(image, mask) for s in range(8)]
    mirrored = [m for _, m in flips if not np.array_equal(m, mask)]
    assert mirrored and all(np.array_equal(m, mask[:, ::-1]) for m in mirrored)


def test_parse_geometric_and_training_augmentation():
    assert parse_geometric("") == set() and parse_geometric("all") == {"flip", "rotate", "scale", "elastic"}
    assert parse_geometric("flip, rotate") == {"flip", "rotate"}
    with pytest.raises(ValueError, match="shear"):
        parse_geometric("flip,shear")
    assert training_augmentation() is None
    image, mask = labelled_pair()
    out, m = training_augmentation(color=True, geometric={"rotate"}, rng=np.random.default_rng(0))(image, mask)
    assert out.shape == image.shape and m.shape == mask.shape


def test_ssl_views_are_different_crops_of_the_input_size():
    image, _ = labelled_pair(64)
    q, k = TwoCrops(ssl_augmentation(rng=np.random.default_rng(0)))(image)
    assert q.shape == k.shape == image.shape and q.dtype == np.uint8
    assert not np.array_equal(q, k)
    crop = RandomResizedCrop(rng=np.random.default_rng(1))
    for _ in range(20):
        top, left, h, w = crop.box(64, 64)
        assert 0 <= top and top + h <= 64 and 0 <= left and left + w <= 64
        assert 0.2 * 64 * 64 * 0.8 <= h * w <= 64 * 64
