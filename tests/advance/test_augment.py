"""advance/augment.py: the original's --aug colour pipeline (values worked out by hand), geometric augmentation
that moves image and mask together, and the SSL two-crop views."""
import numpy as np
import pytest

from advance.augment import (ColorJitter, ElasticDeform, GaussianBlur, RandomAffine, RandomResizedCrop, TwoCrops,
                             adjust_brightness, adjust_contrast, adjust_hue, adjust_saturation, color_augmentation,
                             geometric_augmentation, parse_geometric, ssl_augmentation, training_augmentation)
from utils.errors import ConfigError


def image():
    return np.random.RandomState(0).randint(0, 256, (32, 32, 3)).astype(np.uint8)


# --------------------------------------------------------------------------------------------------- colour
def test_adjustments_match_hand_computed_values():
    red = np.zeros((1, 2, 3), np.float32)
    red[0, 0] = (200, 0, 0)       # a red pixel
    red[0, 1] = (0, 0, 100)       # a blue one
    np.testing.assert_allclose(adjust_brightness(red, 0.5)[0, 0], (100, 0, 0))
    # contrast 0: every pixel becomes the mean grey level, (0.299 * 200 + 0.114 * 100) / 2 = 35.6
    np.testing.assert_allclose(adjust_contrast(red, 0.0), np.full_like(red, 35.6), atol=1e-4)
    # saturation 0: each pixel becomes its own grey level, 0.299 * 200 = 59.8 and 0.114 * 100 = 11.4
    np.testing.assert_allclose(adjust_saturation(red, 0.0)[0, 0], (59.8,) * 3, atol=1e-4)
    np.testing.assert_allclose(adjust_saturation(red, 0.0)[0, 1], (11.4,) * 3, atol=1e-4)
    # a hue turn of 1/3 moves red to green and blue to red
    turned = adjust_hue(red, 1 / 3)
    assert turned[0, 0].argmax() == 1 and turned[0, 0, 1] == pytest.approx(200, abs=2)
    assert turned[0, 1].argmax() == 0


def test_identity_factors_leave_the_image_unchanged():
    img = image().astype(np.float32)
    np.testing.assert_allclose(adjust_contrast(img, 1.0), img, atol=1e-4)
    np.testing.assert_allclose(adjust_saturation(img, 1.0), img, atol=1e-4)
    out, _ = ColorJitter(0, 0, 0, 0, rng=np.random.default_rng(0))(image(), None)
    np.testing.assert_array_equal(out, image())


def test_brightness_jitter_scales_every_pixel_by_one_drawn_factor():
    grey = np.full((8, 8, 3), 100, np.uint8)
    out, _ = ColorJitter(0.5, 0, 0, 0, rng=np.random.default_rng(3))(grey, None)
    assert len(np.unique(out)) == 1                 # one factor for the whole image
    assert 50 <= int(out[0, 0, 0]) <= 150 and int(out[0, 0, 0]) != 100


def test_color_augmentation_changes_the_image_not_the_mask():
    mask = np.eye(32, dtype=np.int64)
    changed = 0
    for seed in range(8):
        out, m = color_augmentation(np.random.default_rng(seed))(image(), mask)
        assert out.shape == (32, 32, 3) and out.dtype == np.uint8
        assert m is mask
        changed += int(np.abs(out.astype(int) - image()).mean() > 1)
    # p = 0.8 for the jitter and 0.5 for the blur: identity for a seed has probability 0.1
    assert changed >= 5


def test_color_augmentation_is_reproducible_with_a_seeded_generator():
    a, _ = color_augmentation(np.random.default_rng(7))(image(), None)
    b, _ = color_augmentation(np.random.default_rng(7))(image(), None)
    c, _ = color_augmentation(np.random.default_rng(8))(image(), None)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_probability_zero_and_one():
    never = ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.0)
    always = ColorJitter(0.9, 0, 0, 0, p=1.0)
    for seed in range(5):
        np.testing.assert_array_equal(never.set_random_state(seed)(image(), None)[0], image())
        assert not np.array_equal(always.set_random_state(seed)(image(), None)[0], image())


def test_blur_equals_opencv_at_the_drawn_sigma():
    import cv2
    out, _ = GaussianBlur((1.5, 1.5))(image(), None)
    np.testing.assert_array_equal(out, cv2.GaussianBlur(image(), (0, 0), sigmaX=1.5, sigmaY=1.5))
    assert out.astype(float).std() < image().astype(float).std()


# --------------------------------------------------------------------------------------------------- geometry
def labelled_pair(size=48):
    """A 3-class mask and an image whose red/green channels encode classes 1/2, so alignment can be read back."""
    mask = np.zeros((size, size), np.int64)
    mask[8:30, 10:26] = 1
    mask[20:40, 28:44] = 2
    img = np.zeros((size, size, 3), np.uint8)
    img[..., 0] = 250 * (mask == 1)
    img[..., 1] = 250 * (mask == 2)
    img[..., 2] = 60
    return img, mask


def decoded(img):
    return (img[..., 0] > 125) * 1 + (img[..., 1] > 125) * 2


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
    img, mask = labelled_pair()
    changed = 0
    for seed in range(6):
        out, m = TRANSFORMS[name](np.random.default_rng(seed))(img, mask)
        assert out.shape == img.shape and out.dtype == np.uint8
        assert m.shape == mask.shape and m.dtype == mask.dtype
        assert set(np.unique(m)) <= {0, 1, 2}  # nearest neighbour: no interpolated labels
        inside = interior(m)
        np.testing.assert_array_equal(decoded(out)[inside], m[inside])
        changed += int((m != mask).any())
    assert changed >= 2  # the transform really moves things


def test_identity_settings_and_flip_geometry():
    img, mask = labelled_pair()
    out, m = RandomAffine(flip=False, rotate=0, scale=0)(img, mask)
    assert out is img and m is mask
    flips = [RandomAffine(flip=True, rotate=0, scale=0, rng=np.random.default_rng(s))(img, mask) for s in range(8)]
    mirrored = [m for _, m in flips if not np.array_equal(m, mask)]
    assert mirrored and all(np.array_equal(m, mask[:, ::-1]) for m in mirrored)


def test_parse_geometric():
    assert parse_geometric("") == set() and parse_geometric("all") == {"flip", "rotate", "scale", "elastic"}
    assert parse_geometric("flip, rotate") == {"flip", "rotate"}
    with pytest.raises(ConfigError, match="shear.*valid names: elastic, flip, rotate, scale"):
        parse_geometric("flip,shear")
    with pytest.raises(ConfigError, match="did you mean 'rotate'"):
        parse_geometric("rotat")


def test_training_augmentation_has_exactly_the_parts_asked_for():
    assert training_augmentation() is None
    img, mask = labelled_pair()
    # flip only: every draw is the identity or the exact mirror; the colours are untouched
    for seed in range(6):
        out, m = training_augmentation(geometric={"flip"}, rng=np.random.default_rng(seed))(img, mask)
        assert np.array_equal(m, mask) or np.array_equal(m, mask[:, ::-1])
        assert np.array_equal(out, img) or np.array_equal(out, img[:, ::-1])
    # rotation only: the mask turns (never a mirror image) and stays aligned with the image
    turned = 0
    for seed in range(6):
        out, m = training_augmentation(geometric={"rotate"}, rng=np.random.default_rng(seed))(img, mask)
        assert not np.array_equal(m, mask[:, ::-1])
        np.testing.assert_array_equal(decoded(out)[interior(m)], m[interior(m)])
        turned += int(not np.array_equal(m, mask))
    assert turned >= 5
    # colour only: the mask is the input's, the image changes
    out, m = training_augmentation(color=True, rng=np.random.default_rng(1))(img, mask)
    assert m is mask and not np.array_equal(out, img)


# --------------------------------------------------------------------------------------------------- SSL
def test_ssl_views_are_different_crops_of_the_input_size():
    img, _ = labelled_pair(64)
    q, k = TwoCrops(ssl_augmentation(rng=np.random.default_rng(0)))(img)
    assert q.shape == k.shape == img.shape and q.dtype == np.uint8
    assert not np.array_equal(q, k)
    crop = RandomResizedCrop(rng=np.random.default_rng(1))
    for _ in range(20):
        top, left, h, w = crop.box(64, 64)
        assert 0 <= top and top + h <= 64 and 0 <= left and left + w <= 64
        assert 0.2 * 64 * 64 * 0.8 <= h * w <= 64 * 64


def test_resized_crop_resamples_the_chosen_box():
    import cv2
    img, mask = labelled_pair(64)
    crop = RandomResizedCrop(rng=np.random.default_rng(4))
    out, m = crop(img, mask)
    top, left, h, w = crop.crop
    np.testing.assert_array_equal(out, cv2.resize(img[top:top + h, left:left + w], (64, 64)))
    np.testing.assert_array_equal(m, cv2.resize(mask[top:top + h, left:left + w].astype(np.uint8), (64, 64),
                                                interpolation=cv2.INTER_NEAREST))
