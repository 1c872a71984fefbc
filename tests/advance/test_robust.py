"""Robustness perturbations (advance/robust.py): every perturbation's contract, hand-checked values, the
parsers. The benchmark run itself is tested in tests/pipeline/test_evaluate.py."""
import numpy as np
import pytest

from advance import robust
from advance.robust import PERTURBATIONS, Perturbation, parse_perturbations, parse_strengths
from utils.errors import ConfigError

GEOMETRIC = {"rotation", "scale", "translation", "screen_photo"}


def ct_like(size=64):
    """A grey, CT-like test image (body disc with a bright blob) and the blob's mask."""
    yy, xx = np.mgrid[0:size, 0:size]
    body = (yy - size / 2) ** 2 / (0.42 * size) ** 2 + (xx - size / 2) ** 2 / (0.46 * size) ** 2 <= 1
    target = (yy - 0.38 * size) ** 2 + (xx - 0.6 * size) ** 2 <= (0.12 * size) ** 2
    grey = np.where(body, 110, 5) + np.where(target, 80, 0) + 20 * np.sin(xx / 3.0) * body
    image = np.repeat(np.clip(grey, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    return image, target.astype(np.int64)


def difference(a, b):
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


@pytest.mark.parametrize("name", sorted(PERTURBATIONS))
def test_perturbation_contract(name):
    fn = PERTURBATIONS[name]
    image, mask = ct_like()
    same, same_mask = fn(image, mask, 0.0)
    np.testing.assert_array_equal(same, image)  # strength 0 = identity
    np.testing.assert_array_equal(same_mask, mask)
    assert same is not image  # a copy: callers may modify it
    previous = 0.0
    for s in (0.25, 0.5, 1.0):
        out, m = fn(image, mask, s, np.random.default_rng(0))
        assert out.shape == image.shape and out.dtype == np.uint8
        assert m.shape == mask.shape and m.dtype == mask.dtype and set(np.unique(m)) <= {0, 1}
        d = difference(out, image)
        assert d > previous, f"{name}: strength {s} is not further from the original ({d} <= {previous})"
        previous = d
        if name in GEOMETRIC:
            assert (m != mask).any()  # the mask moves with the image
        else:
            np.testing.assert_array_equal(m, mask)
    out, m = fn(image, None, 1.0)
    assert m is None and out.shape == image.shape
    with pytest.raises(ValueError):
        fn(image, mask, 1.5)


@pytest.mark.parametrize("name", sorted(GEOMETRIC))
def test_geometric_perturbations_keep_the_mask_on_the_target(name):
    image, mask = ct_like(96)
    out, m = PERTURBATIONS[name](image, mask, 0.6, np.random.default_rng(0))
    grey = out.astype(np.float32).mean(axis=2)
    # The target is the brightest structure: inside the moved mask the image is much brighter than around it.
    assert grey[m == 1].mean() > grey[(m == 0) & (grey > 40)].mean() + 40


def test_random_perturbations_are_reproducible():
    image, mask = ct_like()
    a, _ = robust.noise(image, mask, 0.5, np.random.default_rng([0, 3]))
    b, _ = robust.noise(image, mask, 0.5, np.random.default_rng([0, 3]))
    np.testing.assert_array_equal(a, b)


def test_geometric_flag_marks_the_perturbations_that_move_the_mask():
    assert {n for n in PERTURBATIONS if PERTURBATIONS[n].geometric} == GEOMETRIC


def test_values_worked_out_by_hand():
    grey = np.full((4, 4, 3), 100, np.uint8)
    np.testing.assert_array_equal(robust.brightness(grey, None, 0.5)[0], np.full_like(grey, 150))
    # gamma at s = 0.5: 255 * (100 / 255) ** 2 = 39.2 -> 39
    np.testing.assert_array_equal(robust.gamma(grey, None, 0.5)[0], np.full_like(grey, 39))
    ramp = np.repeat(np.array([[0, 200]], np.uint8)[..., None], 3, axis=2)
    # contrast at s = 1: around the mean 100, scaled by 0.3 -> 70 and 130
    np.testing.assert_array_equal(robust.contrast(ramp, None, 1.0)[0][0, :, 0], [70, 130])
    # translation at s = 1 by 0.2 x size: a 10-pixel image moves right and down by 2 pixels
    img = np.zeros((10, 10, 3), np.uint8)
    img[3, 4] = 255
    mask = (img[..., 0] > 0).astype(np.int64)
    out, m = robust.translation(img, mask, 1.0)
    assert out[5, 6, 0] == 255 and m[5, 6] == 1 and m.sum() == 1


def test_perturbation_transform_is_the_function_with_its_own_seeded_generator():
    image, mask = ct_like()
    a = Perturbation("noise", 0.5).set_random_state([0, 3])(image, mask)[0]
    b = robust.noise(image, mask, 0.5, np.random.default_rng([0, 3]))[0]
    np.testing.assert_array_equal(a, b)
    np.random.seed(123)  # NumPy's global state does not matter: no generator means one seeded 0
    c = robust.noise(image, mask, 0.5)[0]
    np.random.seed(7)
    np.testing.assert_array_equal(c, robust.noise(image, mask, 0.5)[0])
    with pytest.raises(ValueError, match="strength"):
        Perturbation("noise", 1.5)


def test_parsers():
    assert parse_perturbations(None) == PERTURBATIONS.names(sort=False)
    assert parse_perturbations("all") == PERTURBATIONS.names(sort=False)
    assert parse_perturbations("noise, blur") == ["noise", "blur"]
    with pytest.raises(ConfigError, match="fog.*valid names"):
        parse_perturbations("noise,fog")
    with pytest.raises(ConfigError, match="did you mean 'noise'"):
        parse_perturbations("nois")
    assert parse_strengths("1,0.5") == [0.0, 0.5, 1.0]
    with pytest.raises(ConfigError, match="2"):
        parse_strengths("0.5,2")
    with pytest.raises(ConfigError, match="numbers"):
        parse_strengths("0.5,strong")
