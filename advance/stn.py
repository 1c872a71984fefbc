"""Spatial transformer (``run.py --stn``): a learned affine warp in front of any segmentation network.

``STNWrapper(convnet)`` predicts an affine matrix ``theta`` (2 x 3, normalised coordinates) from the image,
resamples the image with it and segments the result::

    theta = fc_loc(loc(x'))            x' = x, or x average-pooled to stn_size x stn_size
    z     = sample(x, affine_grid(theta))
    y     = convnet(z)

The localisation net is the original's: four conv3x3-BN-ReLU layers with 8/16/32/64 channels, adaptive average
pooling to 2 x 2, then Linear(256, 32) - ReLU - Linear(32, 6), the last layer initialised to the identity warp
(weight 0, bias [1, 0, 0, 0, 1, 0]), so a fresh wrapper gives exactly the wrapped network's output.  Parameter
names are prefixed ``convnet.``, ``loc.`` and ``fc_loc.`` as in the original.

Options (both off by default, i.e. the original's behaviour):

* ``stn_size=N`` (``--stn-size N``): the localisation net sees the image average-pooled to N x N instead of
  the full resolution (the original ran its four convolutions at 512 x 512).  ``theta`` is resolution-free,
  so the warp itself is still applied to the full image.
* ``warp_mask=True`` (``--stn-warp-mask``): the original compared the prediction for the *warped* image with
  the *unwarped* mask.  With this option the training loop warps the mask with the same ``theta`` (nearest
  neighbour, outside = background) through :meth:`STNWrapper.warp_target`, which uses the ``theta`` of the
  last forward pass; :func:`pipeline.engine.train_one_epoch` calls it via its ``target_fn`` hook right after the
  forward pass.  In evaluation mode the wrapper then maps its logits back to the input's frame with the
  inverse warp, so predictions, metrics and overlays refer to the image as given.

Sampling: ``affine_grid`` with ``align_corners=False`` (the original's convention) and a bilinear sampler with
zero padding.  Jittor 1.3.11's ``nn.grid_sample`` computes correct theta gradients for general warps, but at
the identity -- where every STN starts -- each sample falls exactly on a pixel centre, and float rounding
makes ``floor()`` pick the left neighbour for some pixels and the right one for others, so the theta gradient
is a random mix of one-sided derivatives (always with ``align_corners=True``; with ``False`` whenever the size
is not a power of two).  :func:`affine_sample` snaps sample positions within 1e-3 pixel of a pixel centre to
that centre's cell, which makes the gradient the consistent (right-hand) derivative; its values differ from
exact bilinear sampling by at most 1e-3 times the difference of neighbouring pixels (0 at the identity).
tests/advance/test_stn.py checks values and theta gradients against a float64 NumPy reference and finite
differences (and shows that Jittor's own sampler fails the identity check).
"""
import numpy as np

import jittor as jt
from jittor import nn

from model.blocks import ConvBNReLU

__all__ = ["STNWrapper", "affine_sample", "identity_theta", "invert_theta"]

# Sample positions this close (in pixels) below a pixel centre are assigned to that centre's cell.
_SNAP = 1e-3


def identity_theta(n):
    """``n`` identity affine matrices (n x 2 x 3, float32)."""
    return jt.array(np.tile(np.array([[1, 0, 0], [0, 1, 0]], np.float32), (n, 1, 1)))


def invert_theta(theta):
    """Inverse affine maps (NumPy, n x 2 x 3) of ``theta``: ``[A | t] -> [A^-1 | -A^-1 t]``."""
    th = np.asarray(theta, np.float64)
    a, t = th[:, :, :2], th[:, :, 2:]
    det = a[:, 0, 0] * a[:, 1, 1] - a[:, 0, 1] * a[:, 1, 0]
    det = np.where(np.abs(det) < 1e-6, np.copysign(1e-6, det + 1e-12), det)
    inv = np.stack([np.stack([a[:, 1, 1], -a[:, 0, 1]], -1), np.stack([-a[:, 1, 0], a[:, 0, 0]], -1)], 1)
    inv = inv / det[:, None, None]
    return np.concatenate([inv, -inv @ t], axis=2).astype(np.float32)


def affine_sample(x, theta, mode="bilinear", size=None):
    """Resample ``x`` (N x C x H x W) with affine maps ``theta`` (N x 2 x 3); zeros outside.

    ``theta`` maps output coordinates to input coordinates, both normalised to [-1, 1] with
    ``align_corners=False`` (pixel edges at +-1), as ``nn.affine_grid``/``nn.grid_sample``.  ``mode`` is
    ``"bilinear"`` or ``"nearest"`` (for label maps); ``size`` = (H_out, W_out), default the input's.
    """
    n, c, h, w = x.shape
    ho, wo = size or (h, w)
    grid = nn.affine_grid(theta, (n, c, ho, wo), align_corners=False)
    # Unnormalise to pixel coordinates (align_corners=False: -1 -> -0.5, +1 -> size - 0.5).
    px = ((grid[:, :, :, 0] + 1) * w - 1) / 2
    py = ((grid[:, :, :, 1] + 1) * h - 1) / 2
    shape = [n, c, ho, wo]
    nid, cid = jt.index(shape, dim=0), jt.index(shape, dim=1)
    px = px.reindex(shape, ["i0", "i2", "i3"])
    py = py.reindex(shape, ["i0", "i2", "i3"])
    if mode == "nearest":
        return x.reindex([nid, cid, (py + 0.5).floor_int(), (px + 0.5).floor_int()], overflow_value=0.0)
    if mode != "bilinear":
        raise ValueError(f"mode must be 'bilinear' or 'nearest', got {mode!r}")
    x0, y0 = (px + _SNAP).floor_int(), (py + _SNAP).floor_int()
    x1, y1 = x0 + 1, y0 + 1
    fx, fy = px - x0, py - y0
    gx, gy = 1 - fx, 1 - fy
    v00 = x.reindex([nid, cid, y0, x0], overflow_value=0.0)
    v01 = x.reindex([nid, cid, y0, x1], overflow_value=0.0)
    v10 = x.reindex([nid, cid, y1, x0], overflow_value=0.0)
    v11 = x.reindex([nid, cid, y1, x1], overflow_value=0.0)
    return v00 * gx * gy + v01 * fx * gy + v10 * gx * fy + v11 * fx * fy


class STNWrapper(nn.Module):
    """A spatial transformer in front of ``convnet`` (see the module docstring).

    ``in_channels``: image channels (3); ``stn_size``: side of the localisation net's input (None = full
    resolution, the original); ``warp_mask``: train against warped masks and un-warp predictions in eval mode.
    After every forward pass ``self.theta`` holds the (stop-grad) affine matrices used.
    """

    def __init__(self, convnet, in_channels=3, stn_size=None, warp_mask=False):
        super().__init__()
        if stn_size is not None and int(stn_size) < 2:
            raise ValueError(f"stn_size must be at least 2 (or None for full resolution), got {stn_size}")
        self.convnet = convnet
        # the original's flat layer list (loc.0 .. loc.11, then the pooling): its checkpoints' names
        self.loc = nn.Sequential(*ConvBNReLU(in_channels, 8), *ConvBNReLU(8, 16), *ConvBNReLU(16, 32),
                                 *ConvBNReLU(32, 64), nn.AdaptiveAvgPool2d(2))
        self.fc_loc = nn.Sequential(nn.Linear(64 * 2 * 2, 32), nn.ReLU(), nn.Linear(32, 3 * 2))
        last = self.fc_loc[2]
        last.weight.assign(jt.zeros(last.weight.shape))
        last.bias.assign(jt.array(np.array([1, 0, 0, 0, 1, 0], np.float32)))
        self.stn_size = None if stn_size is None else int(stn_size)
        self.warp_mask = bool(warp_mask)
        self._theta = None  # underscore: not a parameter (Jittor collects every public Var attribute)
        if hasattr(convnet, "n_classes"):
            self.n_classes = convnet.n_classes

    def localise(self, x):
        """The affine matrices (N x 2 x 3) the localisation net predicts for ``x``."""
        if self.stn_size is not None and (x.shape[2] != self.stn_size or x.shape[3] != self.stn_size):
            x = nn.AdaptiveAvgPool2d((self.stn_size, self.stn_size))(x)
        feats = self.loc(x).reshape(x.shape[0], -1)
        return self.fc_loc(feats).reshape(-1, 2, 3)

    def transform(self, x):
        """The warped image (what the wrapped network sees); also sets ``self.theta``."""
        theta = self.localise(x)
        self._theta = theta.detach()
        return affine_sample(x, theta)

    @property
    def theta(self):
        """The (stop-grad) affine matrices of the last forward pass, N x 2 x 3, or None."""
        return self._theta

    def execute(self, x):
        out = self.convnet(self.transform(x))
        if self.warp_mask and not self.is_training():
            out = self.unwarp(out)
        return out

    def warp_target(self, masks):
        """Warp label maps (N x H x W ints) with the last forward pass's ``theta`` (nearest; outside = 0)."""
        if self._theta is None:
            raise RuntimeError("warp_target needs a forward pass first (it uses that pass's theta)")
        m = masks.float32().unsqueeze(1)
        warped = affine_sample(m, self._theta, mode="nearest")
        return warped.squeeze(1).round_int().int32()

    def unwarp(self, out):
        """Map a prediction made on the warped image back to the input's frame (inverse of ``self.theta``)."""
        inv = jt.array(invert_theta(self._theta.numpy()))
        return affine_sample(out, inv)
