"""SimpleUNet, the original library's own lightweight U-Net.

A 2x2 stride-2 convolution embeds the input at 1/2 resolution (3 -> 64); three max-pool + conv3-GroupNorm-ReLU
stages go down to 512 channels at 1/16.  Each decoder stage upsamples with a 2x2 stride-2 transposed convolution
to the skip's width and **multiplies** it element-wise with the skip (no concatenation) before a
conv3-GroupNorm-ReLU; a final 2x2 stride-2 transposed convolution returns to full resolution with class logits.
GroupNorm uses 32/16/8/4 groups for >= 512/256/128/64 channels (:func:`~model.blocks.group_norm`).
Submodules keep the original names ``inc, down1..down3, up1..up3, outc``.
"""
from jittor import nn

from .registry import register_model
from .blocks import group_norm


class SimpleBlock(nn.Sequential):
    """conv3 (no bias) -> GroupNorm -> ReLU."""

    def __init__(self, in_ch, out_ch):
        super().__init__(nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False), group_norm(out_ch), nn.ReLU())


class SimpleDown(nn.Sequential):
    """2x2 max pooling -> :class:`SimpleBlock`."""

    def __init__(self, in_ch, out_ch):
        super().__init__(nn.MaxPool2d(2, stride=2), SimpleBlock(in_ch, out_ch))


class SimpleUp(nn.Module):
    """2x2 stride-2 transposed conv (no bias) to the skip's width, ``* skip``, then :class:`SimpleBlock`."""

    def __init__(self, in_ch, skip_ch, out_ch):
        super().__init__()
        self.up = nn.ConvTranspose2d(in_ch, skip_ch, 2, stride=2, bias=False)
        self.conv = SimpleBlock(skip_ch, out_ch)

    def execute(self, x, skip):
        return self.conv(self.up(x) * skip)


class SimpleUNet(nn.Module):
    """SimpleUNet: 64-128-256-512 at 1/2 .. 1/16 resolution, multiplicative skips (H, W divisible by 16)."""

    def __init__(self, in_channels=3, n_classes=2):
        super().__init__()
        self.inc = nn.Conv2d(in_channels, 64, 2, stride=2)
        self.down1 = SimpleDown(64, 128)
        self.down2 = SimpleDown(128, 256)
        self.down3 = SimpleDown(256, 512)
        self.up1 = SimpleUp(512, 256, 256)
        self.up2 = SimpleUp(256, 128, 128)
        self.up3 = SimpleUp(128, 64, 64)
        self.outc = nn.ConvTranspose2d(64, n_classes, 2, stride=2)

    def execute(self, x):
        skips = [self.inc(x)]                                # 1/2
        for down in (self.down1, self.down2, self.down3):    # 1/4, 1/8, 1/16
            skips.append(down(skips[-1]))
        y = skips.pop()
        for up in (self.up1, self.up2, self.up3):
            y = up(y, skips.pop())
        return self.outc(y)


# min_size 32: Jittor's max pooling refuses an input no larger than its kernel (a 2x2 map at 1/8).
# No reference_params: the original's comment states 7,082,178, but its committed code (which this follows layer
# for layer) has 3,014,594 parameters; no variant of widths, kernels or norms we tried reproduces the comment.
@register_model("simple", divisor=16, min_size=32)
def simple(in_channels=3, n_classes=2, **kw):
    """SimpleUNet: lightweight U-Net with GroupNorm and multiplicative skip connections (3.01 M parameters)."""
    return SimpleUNet(in_channels, n_classes, **kw)
