"""Sliding-window inference: tiling, blending, equality with whole-image inference, bounded memory."""
import numpy as np
import pytest

from tests.conftest import jt
from jittor import nn
from pipeline.inference import blend_weights, sliding_window_probs, window_starts


def test_window_starts_cover_the_axis_and_end_at_the_border():
    assert window_starts(100, 32, 0.5) == [0, 16, 32, 48, 64, 68]
    assert window_starts(32, 32, 0.5) == [0]
    assert window_starts(20, 32, 0.5) == [0]


def test_gaussian_weights_peak_in_the_centre_and_stay_positive():
    w = blend_weights(16)
    assert w.max() == w[7, 7] == w[8, 8] and w.min() > 0


class Pointwise(nn.Module):
    """A 1x1-conv network: its output at a pixel depends on that pixel only."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)
        self.calls = []

    def execute(self, x):
        self.calls.append(tuple(x.shape))
        return self.conv(x)


@pytest.mark.parametrize("blend", ["gaussian", "uniform"])
def test_windows_equal_whole_image_when_the_receptive_field_allows(blend):
    jt.set_global_seed(0)
    model = Pointwise()
    image = np.random.RandomState(0).rand(3, 70, 90).astype(np.float32)
    with jt.no_grad():
        whole = nn.softmax(model(jt.array(image[None])), dim=1).numpy()[0]
    tiled = sliding_window_probs(model, image, window=32, overlap=0.25, blend=blend)
    np.testing.assert_allclose(tiled, whole, atol=1e-5)


def test_memory_is_bounded_by_the_window_not_the_image():
    model = Pointwise()
    image = np.zeros((3, 200, 150), np.float32)
    probs = sliding_window_probs(model, image, window=32, overlap=0.5, batch_size=2)
    assert probs.shape == (3, 200, 150)
    assert all(shape[0] <= 2 and shape[2:] == (32, 32) for shape in model.calls)


def test_images_smaller_than_the_window_are_padded():
    probs = sliding_window_probs(Pointwise(), np.zeros((3, 20, 25), np.float32), window=32)
    assert probs.shape == (3, 20, 25)
    np.testing.assert_allclose(probs.sum(0), 1.0, atol=1e-5)
