"""Connectors: the small trained modules that bring a student's feature map to its teacher's shape.

They are trained with the student and dropped when it is saved (the student's checkpoint is a plain one).

* :class:`Connector`: a 1 x 1 convolution and BatchNorm from the student's width to the teacher's, then a
  bilinear resize to the teacher's map size (FitNets' regressor, as feature-distillation methods use it);
* :class:`ABF`: ReviewKD's attention-based fusion of one student level with the fused deeper levels.
"""
import jittor as jt
from jittor import nn

from model.ops import resize

__all__ = ["Connector", "ABF", "resize_to"]


def resize_to(x, size, mode="bilinear"):
    """``x`` (N x C x H x W) resized to ``size`` = (H', W') (unchanged when it already has that size)."""
    size = tuple(int(s) for s in size)
    if tuple(x.shape[2:]) == size:
        return x
    return resize(x, size, mode=mode, align_corners=False)


class Connector(nn.Module):
    """Student map (N x Cs x h x w) -> teacher shape (N x Ct x H x W): 1 x 1 conv (no bias) + BatchNorm, then
    bilinear resize to the teacher's size."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)

    def execute(self, x, size):
        return resize_to(self.bn(self.conv(x)), size)


class ABF(nn.Module):
    """Attention-based fusion (Chen et al., "Distilling Knowledge via Knowledge Review", CVPR 2021).

    The student's map ``x`` of one level goes through a 1 x 1 conv + BN to ``mid`` channels. When the fused map
    of the deeper levels, ``residual``, is given (resized to ``x``'s size), two attention maps
    ``a = sigmoid(conv1x1([x, residual]))`` weigh them: ``z = x * a[:, 0] + residual * a[:, 1]``; otherwise
    ``z = x`` (the deepest level). ``z`` is resized to the teacher level's size and a 3 x 3 conv + BN gives the
    teacher's channel count. Returns ``(output for the loss, z for the next shallower level)``.
    """

    def __init__(self, in_channels, mid_channels, out_channels, fuse=True):
        super().__init__()
        self.reduce = nn.Sequential(nn.Conv2d(in_channels, mid_channels, 1, bias=False), nn.BatchNorm2d(mid_channels))
        self.expand = nn.Sequential(nn.Conv2d(mid_channels, out_channels, 3, padding=1, bias=False),
                                    nn.BatchNorm2d(out_channels))
        self.attention = nn.Conv2d(2 * mid_channels, 2, 1) if fuse else None

    def execute(self, x, residual, size):
        z = self.reduce(x)
        if self.attention is not None and residual is not None:
            residual = resize_to(residual, z.shape[2:], mode="nearest")
            a = jt.sigmoid(self.attention(jt.concat([z, residual], dim=1)))
            z = z * a[:, 0:1] + residual * a[:, 1:2]
        z = resize_to(z, size, mode="nearest")
        return self.expand(z), z
