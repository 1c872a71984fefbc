"""The original's --aug colour pipeline."""
import numpy as np

from advance.augment import ColorJitter, GaussianBlur, adjust_contrast, adjust_saturation, color_augmentation


def image():
    return np.random.RandomState(0).randint(0, 256, (32, 32, 3)).astype(np.uint8)


def test_color_augmentation_keeps_shape_dtype_and_mask():
    mask = np.eye(32, dtype=np.int64)
    rng = np.random.default_rng(0)
    out, m = color_augmentation(rng)(image(), mask)
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    assert m is mask


def test_color_augmentation_is_reproducible_with_a_seeded_generator():
    a, _ = color_augmentation(np.random.default_rng(7))(image(), None)
    b, _ = color_augmentation(np.random.default_rng(7))(image(), None)
    np.testing.assert_array_equal(a, b)


def test_identity_factors_leave_the_image_unchanged():
    img = image().astype(np.float32)
    np.testing.assert_allclose(adjust_contrast(img, 1.0), img, atol=1e-4)
    np.testing.assert_allclose(adjust_saturation(img, 1.0), img, atol=1e-4)
    jitter = ColorJitter(0, 0, 0, 0, rng=np.random.default_rng(0))
    out, _ = jitter(image(), None)
    np.testing.assert_array_equal(out, image())


def test_zero_saturation_gives_grey_and_blur_smooths():
    grey = adjust_saturation(image().astype(np.float32), 0.0)
    np.testing.assert_allclose(grey[..., 0], grey[..., 1], atol=1e-3)
    blurred, _ = GaussianBlur((2.0, 2.0))(image(), None)
    assert blurred.astype(float).std() < image().astype(float).std()
