"""LightNet: OneNet's smaller sibling with a multiplicative fusion of the dilated layers (JMedSeg's own design).

The input is reduced to one gray channel by summing its channels (the original sums R, G and B; any channel
count works), embedded by a 4x4 stride-4 convolution and widened 64 -> 1024 by four :class:`ShiftGroupConv`
layers.  The same sixteen dilated layers as OneNet (:class:`ShiftGroupStack`) give eight selected outputs;
starting from the last one, the fusion folds backwards: ``fused = fuse[i](fused * picked[i])`` for i = 6 .. 0,
each ``fuse[i]`` a 1x1 ShiftGroupConv.  Two 1x1 ShiftGroupConv layers narrow 1024 -> 512 -> 256 and a 4x4
stride-4 transposed convolution returns to the input resolution.  GroupNorm throughout and no dropout, so
train and eval mode compute the same function.
"""
from jittor import nn

from .registry import register_model
from .blocks import ShiftGroupConv, ShiftGroupStack


class LightNet(nn.Module):
    """embed (gray, 4x4/4 conv to 64, widen to 1024) -> layers (16 dilated) -> fuse (7 x 1x1) -> decode (to x4).

    Submodule names follow the original (``embed, layers, fuse, decode``).  The channel shift is 8 everywhere.
    """

    def __init__(self, n_classes=2):
        super().__init__()
        self.embed = nn.Sequential(
            nn.Conv2d(1, 64, 4, stride=4),
            *[ShiftGroupConv(16, 32, groups, shift=8) for groups in (4, 8, 16, 32)],
        )
        self.layers = ShiftGroupStack()
        self.fuse = nn.Sequential(*[ShiftGroupConv(16, 16, 64, kernel_size=1, shift=8)
                                    for _ in range(len(ShiftGroupStack.PICKED) - 1)])
        self.decode = nn.Sequential(
            ShiftGroupConv(32, 16, 32, kernel_size=1, shift=8),
            ShiftGroupConv(32, 16, 16, kernel_size=1, shift=8),
            nn.ConvTranspose2d(256, n_classes, 4, stride=4),
        )

    def execute(self, x):
        gray = x.sum(dim=1, keepdims=True)
        picked = self.layers(self.embed(gray))
        fused = picked[-1]
        for i in reversed(range(len(self.fuse))):
            fused = self.fuse[i](fused * picked[i])
        return self.decode(fused)


@register_model("lightnet", divisor=4, reference_params=2_836_802)
def lightnet(in_channels=3, n_classes=2, **kw):
    """LightNet: gray input, grouped shift convolutions fused multiplicatively, output stride 4 (2.84 M parameters).

    ``in_channels`` only documents the input: the network sums the input channels, so it accepts any count.
    """
    return LightNet(n_classes, **kw)
