"""Shared attention blocks against NumPy references written from their definitions."""
import numpy as np

from tests.conftest import jt
from model.blocks import ChannelSelfAttention, pixel_attention


def softmax(a, axis=-1):
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def test_pixel_attention_averages_values_with_query_key_weights():
    rng = np.random.RandomState(0)
    q, k, v = rng.randn(2, 3, 4, 5), rng.randn(2, 3, 4, 5), rng.randn(2, 6, 4, 5)
    out = pixel_attention(*(jt.array(a.astype("float32")) for a in (q, k, v))).numpy()
    expected = np.zeros_like(v)
    for b in range(2):
        qf, kf, vf = q[b].reshape(3, -1), k[b].reshape(3, -1), v[b].reshape(6, -1)
        weights = softmax(qf.T @ kf, axis=1)          # pixel i attends to pixel j
        expected[b] = (vf @ weights.T).reshape(6, 4, 5)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)


def test_channel_self_attention_both_forms():
    rng = np.random.RandomState(1)
    x = rng.randn(2, 4, 3, 3) * 0.3
    for from_max in (False, True):
        block = ChannelSelfAttention(from_max=from_max)
        block.gamma.assign(jt.array(np.array([0.5], "float32")))
        out = block(jt.array(x.astype("float32"))).numpy()
        flat = x.reshape(2, 4, 9)
        energy = flat @ flat.transpose(0, 2, 1)
        if from_max:
            energy = energy.max(axis=-1, keepdims=True) - energy
        expected = 0.5 * (softmax(energy) @ flat).reshape(x.shape) + x
        np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)
