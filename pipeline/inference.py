"""Sliding-window inference for images larger than the size a model was trained at.

The image is covered by ``window x window`` tiles whose starts are ``window * (1 - overlap)`` apart (the last
tile of a row or column is aligned with the border); tile probabilities are accumulated with a weight map
(``gaussian``: highest at the tile centre, sigma = window / 8, as nnU-Net; ``uniform``: all ones) and divided by
the summed weights.  Images smaller than a window are zero-padded.  Memory: the output (C x H x W) and its weight
map (H x W), plus one batch of tiles — it does not grow with the image beyond the output.
"""
import numpy as np

import jittor as jt
from jittor import nn

from utils.errors import ConfigError
from utils.registry import Registry

# --blend: name -> weights(window) of one tile
BLENDS = Registry("blending")


def window_starts(length, window, overlap):
    """Tile starts along one axis: ``window * (1 - overlap)`` apart, the last one at ``length - window``."""
    if length <= window:
        return [0]
    step = max(1, int(round(window * (1.0 - overlap))))
    starts = list(range(0, length - window + 1, step))
    if starts[-1] != length - window:
        starts.append(length - window)
    return starts


@BLENDS.register("uniform")
def uniform_weights(window):
    return np.ones((window, window), np.float32)


@BLENDS.register("gaussian")
def gaussian_weights(window):
    """Highest at the tile centre, sigma = window / 8 (nnU-Net's), never below 1e-3."""
    r = np.arange(window) - (window - 1) / 2.0
    g = np.exp(-(r ** 2) / (2 * (window / 8.0) ** 2))
    w = np.outer(g, g)
    w = w / w.max()
    return np.maximum(w, 1e-3).astype(np.float32)  # never exactly zero: every pixel gets some weight


def blend_weights(window, blend="gaussian"):
    """The weight map of one tile for the blending ``blend`` (a ConfigError naming the valid ones)."""
    return BLENDS.get(blend, "--blend")(window)


def sliding_window_probs(model, image, window, overlap=0.5, blend="gaussian", batch_size=4):
    """Class probabilities ``C x H x W`` of one image ``image`` (``C_in x H x W`` float array in [0, 1])."""
    if not 0.0 <= overlap < 1.0:
        raise ConfigError(f"--overlap must lie in [0, 1), got {overlap}")
    c_in, h, w = image.shape
    ph, pw = max(h, window), max(w, window)
    if (ph, pw) != (h, w):
        padded = np.zeros((c_in, ph, pw), np.float32)
        padded[:, :h, :w] = image
        image = padded
    weights = blend_weights(window, blend)
    tiles = [(y, x) for y in window_starts(ph, window, overlap) for x in window_starts(pw, window, overlap)]
    out, norm = None, np.zeros((ph, pw), np.float32)
    model.eval()
    with jt.no_grad():
        for i in range(0, len(tiles), batch_size):
            chunk = tiles[i:i + batch_size]
            batch = np.stack([image[:, y:y + window, x:x + window] for y, x in chunk])
            prob = nn.softmax(model(jt.array(batch)), dim=1).numpy()
            if out is None:
                out = np.zeros((prob.shape[1], ph, pw), np.float32)
            for (y, x), p in zip(chunk, prob):
                out[:, y:y + window, x:x + window] += p * weights
                norm[y:y + window, x:x + window] += weights
    return (out / norm)[:, :h, :w]
