"""ResUNet: the original's ResNet-101 encoder with a UNet decoder (``ResUNet``, ``model/ResUNet.py``).

The encoder is the deep-stem dilated ResNet-101 of the original's backbone up to ``layer3`` (skips: stem
128 @ 1/2, ``layer1`` 256 @ 1/4, ``layer2`` 512 @ 1/8, ``layer3`` 1024 @ 1/16); ``bottleneck`` is a
:class:`DoubleConv` 1024 -> 1024 at 1/16. Each decoder block (``conv_decode3..0``) *first concatenates*
``[skip, x]`` at the skip's resolution, *then* upsamples x2 bilinearly and applies a DoubleConv (mid =
in / 2), unlike UNet's upsample-then-concatenate; ``outc`` is a 1x1 classifier on 64 channels at full
resolution.

Difference from the original: the encoder stops at ``layer3``. The original built the whole ResNet-101 and
left ``layer4`` (15 M parameters) unused, without gradients.
"""
import jittor as jt
from jittor import nn

from .registry import register_model
from .backbone.resnet import dilated_resnet101
from .blocks import DoubleConv, OutConv


class ConcatUp(nn.Module):
    """``concat([skip, x])`` -> bilinear x2 -> ``DoubleConv(in_ch, out_ch, mid=in_ch // 2)``; ``in_ch`` is the
    channel count after concatenation."""

    def __init__(self, in_ch, out_ch):
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.conv = DoubleConv(in_ch, out_ch, in_ch // 2)

    def execute(self, x, skip):
        return self.conv(self.up(jt.concat([skip, x], dim=1)))


class ResUNet(nn.Module):
    """``backbone`` (ResNet-101 to layer3) -> ``bottleneck`` -> ``conv_decode3..0`` -> ``outc``."""

    def __init__(self, in_channels=3, n_classes=2, backbone_weights=None):
        super().__init__()
        self.backbone = dilated_resnet101(in_channels, backbone_weights, last_layer=3)
        c0, c1, c2, c3 = self.backbone.channels        # 128, 256, 512, 1024
        self.bottleneck = DoubleConv(c3, c3)
        self.conv_decode3 = ConcatUp(2 * c3, c2)       # 2048 -> 512, to 1/8
        self.conv_decode2 = ConcatUp(2 * c2, c1)       # 1024 -> 256, to 1/4
        self.conv_decode1 = ConcatUp(2 * c1, c0)       # 512 -> 128, to 1/2
        self.conv_decode0 = ConcatUp(2 * c0, c0 // 2)  # 256 -> 64, to 1
        self.outc = OutConv(c0 // 2, n_classes)

    def execute(self, x):
        stem, e1, e2, e3 = self.backbone(x)
        d = self.conv_decode3(self.bottleneck(e3), e3)
        d = self.conv_decode2(d, e2)
        d = self.conv_decode1(d, e1)
        d = self.conv_decode0(d, stem)
        return self.outc(d)


@register_model("resunet", divisor=16, min_size=32, encoder="dilated_resnet101")
def resunet(in_channels=3, n_classes=2, backbone_weights=None):
    """ResUNet: dilated ResNet-101 encoder (stem..layer3) and a concatenate-then-upsample UNet decoder."""
    return ResUNet(in_channels, n_classes, backbone_weights)
