"""advance/transforms.py: the randomness base every transform shares, and the one warp helper."""
import numpy as np
import pytest

from advance.transforms import Compose, RandomTransform, warp_matrix, warp_pair


class Draw(RandomTransform):
    """Records one uniform draw per application (in the image's first pixel)."""

    def randomize(self, image):
        self.value = self.uniform()

    def apply(self, image, mask):
        out = image.copy()
        out.flat[0] = int(255 * self.value)
        return out, mask


def first(transform, seed=None):
    if seed is not None:
        transform.set_random_state(seed)
    return int(transform(np.zeros((2, 2, 3), np.uint8), None)[0].flat[0])


def test_no_generator_means_one_seeded_zero_whatever_numpys_global_state():
    np.random.seed(1)
    a = first(Draw())
    np.random.seed(2)
    assert first(Draw()) == a == int(255 * np.random.default_rng(0).uniform())


def test_set_random_state_reseeds_and_sequences_differ_by_seed():
    t = Draw()
    assert first(t, 5) == first(t, 5)
    assert len({first(t, s) for s in range(10)}) > 5


def test_probability_draw_comes_first_and_only_below_one():
    always = Draw(p=1.0).set_random_state(3)
    expected = np.random.default_rng(3)
    assert first(always) == int(255 * expected.uniform())  # no draw for p itself
    never = Draw(p=0.0)
    assert all(first(never, s) == 0 for s in range(5))
    half = Draw(p=0.5)
    applied = sum(first(half, s) != 0 for s in range(200))
    assert 70 < applied < 130


def test_compose_shares_one_generator():
    a, b = Draw(), Draw()
    pipeline = Compose([a, b]).set_random_state(9)
    pipeline(np.zeros((2, 2, 3), np.uint8), None)
    ref = np.random.default_rng(9)
    assert (a.value, b.value) == (ref.uniform(), ref.uniform())
    assert a.rng is b.rng


def test_warp_moves_image_and_mask_together_with_the_border_rules():
    image = np.zeros((6, 6, 3), np.uint8)
    image[2, 2] = (200, 100, 50)
    image[:, :] += 10
    mask = np.zeros((6, 6), np.int64)
    mask[2, 2] = 3
    shift = np.float32([[1, 0, 2], [0, 1, 1]])  # right by 2, down by 1
    out, m = warp_matrix(image, mask, shift, border=77)
    assert tuple(out[3, 4]) == (210, 110, 60) and m[3, 4] == 3 and m.dtype == np.int64
    assert tuple(out[0, 0]) == (77, 77, 77) and m[0, 0] == 0   # from outside: border in the image, 0 in the mask
    persp, pm = warp_matrix(image, mask, np.vstack([shift, [0, 0, 1]]), border=77)  # as a perspective warp
    np.testing.assert_array_equal(persp, out)
    np.testing.assert_array_equal(pm, m)


def test_warp_keeps_large_label_values_and_none_masks():
    mask = np.full((4, 4), 300, np.int32)
    out, m = warp_pair(np.zeros((4, 4, 3), np.uint8), mask, lambda a, interp, value: a)
    assert m.dtype == np.int32 and (m == 300).all()
    assert warp_matrix(np.zeros((4, 4, 3), np.uint8), None, np.eye(2, 3, dtype=np.float32))[1] is None


@pytest.mark.parametrize("seed", [0, 1])
def test_identity_matrix_is_the_identity(seed):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    mask = rng.integers(0, 3, (8, 8))
    out, m = warp_matrix(image, mask, np.eye(2, 3, dtype=np.float32))
    np.testing.assert_array_equal(out, image)
    np.testing.assert_array_equal(m, mask)
