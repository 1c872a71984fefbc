"""Building blocks shared by several networks.

Conventions: every block is a ``jittor.nn.Module`` with ``execute``; normalisation is BatchNorm (eps 1e-5,
momentum 0.1) unless a block says otherwise; upsampling that must match the original uses bilinear
interpolation with ``align_corners=False``.
"""
from utils import runtime  # noqa: F401
import jittor as jt
from jittor import nn


class ConvBNReLU(nn.Sequential):
    """conv(k) -> BatchNorm -> ReLU, 'same' padding for odd k; the conv has a bias unless ``bias=False``."""

    def __init__(self, in_ch, out_ch, kernel_size=3, stride=1, dilation=1, groups=1, bias=True):
        pad = dilation * (kernel_size - 1) // 2
        super().__init__(
            nn.Conv2d(in_ch, out_ch, kernel_size, stride=stride, padding=pad, dilation=dilation,
                      groups=groups, bias=bias),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(),
        )


class DoubleConv(nn.Sequential):
    """(conv3 -> BN -> ReLU) x 2, the UNet block; ``mid_ch`` defaults to ``out_ch``.

    The convolutions keep their bias, as in the original (Jittor's default), which is what its stated
    parameter counts include.
    """

    def __init__(self, in_ch, out_ch, mid_ch=None):
        mid_ch = mid_ch or out_ch
        super().__init__(ConvBNReLU(in_ch, mid_ch), ConvBNReLU(mid_ch, out_ch))


class Down(nn.Sequential):
    """2x2 max pooling, then a :class:`DoubleConv`."""

    def __init__(self, in_ch, out_ch):
        super().__init__(nn.MaxPool2d(2, stride=2), DoubleConv(in_ch, out_ch))


def upsample_like(x, ref, mode="bilinear"):
    """Resize ``x`` to the spatial size of ``ref`` (align_corners=False)."""
    if tuple(x.shape[2:]) == tuple(ref.shape[2:]):
        return x
    return nn.interpolate(x, size=tuple(ref.shape[2:]), mode=mode, align_corners=False)


class Up(nn.Module):
    """Upsample x2, concatenate ``[skip, upsampled]`` and apply a :class:`DoubleConv`.

    ``bilinear=True``: bilinear x2 (no parameters) and ``DoubleConv(in_ch, out_ch, mid=in_ch // 2)``;
    ``bilinear=False``: a 2x2 transposed convolution halving the channels, then ``DoubleConv(in_ch, out_ch)``.
    ``in_ch`` is the channel count after concatenation.
    """

    def __init__(self, in_ch, out_ch, bilinear=True):
        super().__init__()
        if bilinear:
            self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
            self.conv = DoubleConv(in_ch, out_ch, in_ch // 2)
        else:
            self.up = nn.ConvTranspose2d(in_ch, in_ch // 2, 2, stride=2)
            self.conv = DoubleConv(in_ch, out_ch)

    def execute(self, x, skip):
        x = upsample_like(self.up(x), skip)
        return self.conv(jt.concat([skip, x], dim=1))


class OutConv(nn.Conv2d):
    """1x1 convolution to class logits."""

    def __init__(self, in_ch, n_classes):
        super().__init__(in_ch, n_classes, 1)
