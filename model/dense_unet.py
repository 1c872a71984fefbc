"""DenseUNet as the original library defines it (after the DenseUnet_BraTs PyTorch code): a 64-channel U-Net
whose every level is a small densely connected block.

A 1x1 convolution maps the input to 64 channels; four encoder levels and a bottleneck each apply a
:class:`DenseLevel` (4 conv3-BN-ReLU layers whose pre-activations add every earlier output of the level) and
2x2 max pooling; the decoder upsamples bilinearly, concatenates ``[skip, up]`` (128 ch), reduces with a double
conv to 64 and applies another :class:`DenseLevel`.  All levels keep 64 channels.  Submodules keep the original
names: ``conv1, d1..d4, bottom, up4..up1, u4..u1, outconv``.
"""
from jittor import nn

from .registry import register_model
from .blocks import OutConv, Up

FILTERS = 64
NUM_CONV = 4


class DenseLevel(nn.Module):
    """``num_conv`` conv3 layers at a fixed width with additive dense connections.

    With ``o_0 = x``, layer ``i`` computes ``o_{i+1} = relu(bn_i(conv_i(o_i) + sum_{j<i} o_j))``; the output is
    the last ``o``.
    """

    def __init__(self, ch, num_conv=NUM_CONV):
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv2d(ch, ch, 3, padding=1) for _ in range(num_conv)])
        self.bns = nn.ModuleList([nn.BatchNorm2d(ch) for _ in range(num_conv)])

    def execute(self, x):
        outs = [x]
        for conv, bn in zip(self.convs, self.bns):
            y = conv(outs[-1])
            for earlier in outs[:-1]:
                y = y + earlier
            outs.append(nn.relu(bn(y)))
        return outs[-1]


class DenseUNet(nn.Module):
    """DenseUNet, 64 channels at every level, four 2x2 poolings (H and W divisible by 16)."""

    def __init__(self, in_channels=3, n_classes=2):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, FILTERS, 1)
        self.pool = nn.MaxPool2d(2, stride=2)
        self.d1, self.d2, self.d3, self.d4 = (DenseLevel(FILTERS) for _ in range(4))
        self.bottom = DenseLevel(FILTERS)
        # The original's Up: bilinear x2, concat [skip, up] = 128 ch, DoubleConv(128 -> 64, mid 64).
        self.up4, self.up3, self.up2, self.up1 = (Up(2 * FILTERS, FILTERS) for _ in range(4))
        self.u4, self.u3, self.u2, self.u1 = (DenseLevel(FILTERS) for _ in range(4))
        self.outconv = OutConv(FILTERS, n_classes)

    def execute(self, x):
        x = self.conv1(x)
        skips = []
        for level in (self.d1, self.d2, self.d3, self.d4):
            x = level(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottom(x)
        for up, level in ((self.up4, self.u4), (self.up3, self.u3), (self.up2, self.u2), (self.up1, self.u1)):
            x = level(up(x, skips.pop()))
        return self.outconv(x)


# min_size 32: Jittor's max pooling refuses an input no larger than its kernel (a 2x2 map at 1/8).
@register_model("dense", divisor=16, min_size=32)
def dense(in_channels=3, n_classes=2, **kw):
    """DenseUNet: 64-channel U-Net of densely connected 4-conv levels, bilinear upsampling."""
    return DenseUNet(in_channels, n_classes, **kw)
