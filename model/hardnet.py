"""HarD-MSEG (Huang et al., "HarDNet-MSEG", 2021): a HarDNet-68 encoder with a PraNet-style decoder.

Receptive-field blocks (the original's ``RFB_modified``, from PraNet, Fan et al., MICCAI 2020) squeeze
encoder features to ``channel`` (32) channels, and the partial decoder (the original's ``aggregation``) fuses
them from the deepest up by upsampling, elementwise products and concatenation, ending in a 1x1 convolution
to the class logits, which are bilinearly upsampled to the input size.

* ``hardnet`` (the original's ``HarDMSEG``): RFBs on the 1/8, 1/16 and 1/32 features; logits at 1/8.
* ``hardalter`` (``HarDMSEG_alter``): also an RFB on the 1/4 features and a fourth aggregation stage; logits
  at 1/4.

As in the original, ``BasicConv2d`` is convolution + BatchNorm *without* a ReLU, and the encoder trains from
scratch. Both take any input whose sides are multiples of 32.
"""
import jittor as jt
from jittor import nn

from .registry import register_model
from .backbone.hardnet import HarDNet68
from .blocks import upsample_like


class BasicConv2d(nn.Sequential):
    """conv (no bias) -> BatchNorm, no activation (PraNet's ``BasicConv2d`` as the original applies it)."""

    def __init__(self, in_ch, out_ch, kernel_size, padding=0, dilation=1):
        super().__init__()
        self.add_module("conv", nn.Conv2d(in_ch, out_ch, kernel_size, padding=padding, dilation=dilation,
                                          bias=False))
        self.add_module("bn", nn.BatchNorm2d(out_ch))


def _rfb_branch(in_ch, out_ch, k):
    """1x1 reduction, 1xk and kx1 convolutions, then a 3x3 convolution dilated by k."""
    return nn.Sequential(
        BasicConv2d(in_ch, out_ch, 1),
        BasicConv2d(out_ch, out_ch, (1, k), padding=(0, k // 2)),
        BasicConv2d(out_ch, out_ch, (k, 1), padding=(k // 2, 0)),
        BasicConv2d(out_ch, out_ch, 3, padding=k, dilation=k),
    )


class RFBModified(nn.Module):
    """Receptive field block: a 1x1 branch and three (1xk, kx1, dilated 3x3) branches for k = 3, 5, 7,
    concatenated and fused by a 3x3 convolution, plus a 1x1 shortcut; ReLU of the sum."""

    def __init__(self, in_ch, out_ch):
        super().__init__()
        self.branch0 = nn.Sequential(BasicConv2d(in_ch, out_ch, 1))
        self.branch1 = _rfb_branch(in_ch, out_ch, 3)
        self.branch2 = _rfb_branch(in_ch, out_ch, 5)
        self.branch3 = _rfb_branch(in_ch, out_ch, 7)
        self.conv_cat = BasicConv2d(4 * out_ch, out_ch, 3, padding=1)
        self.conv_res = BasicConv2d(in_ch, out_ch, 1)

    def execute(self, x):
        cat = jt.concat([self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)], dim=1)
        return nn.relu(self.conv_cat(cat) + self.conv_res(x))


class Aggregation(nn.Module):
    """PraNet's partial decoder over ``levels`` (3 or 4) features of ``channel`` channels, deepest first.

    Each finer level is multiplied by the upsampled coarser ones, then concatenated with the upsampled running
    result (``conv_concat2``, ``conv_concat3``; with 4 levels also ``conv_upsample6``/``conv_concat4``), so the
    running width grows by ``channel`` per level; ``conv4`` and the 1x1 ``conv5`` give the class logits at the
    finest level's resolution.
    """

    def __init__(self, channel, n_classes, levels=3):
        super().__init__()
        if levels not in (3, 4):
            raise ValueError(f"Aggregation takes 3 or 4 levels, got {levels}")
        self.levels = levels
        c = channel
        self.upsample = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.conv_upsample1 = BasicConv2d(c, c, 3, padding=1)
        self.conv_upsample2 = BasicConv2d(c, c, 3, padding=1)
        self.conv_upsample3 = BasicConv2d(c, c, 3, padding=1)
        self.conv_upsample4 = BasicConv2d(c, c, 3, padding=1)
        self.conv_upsample5 = BasicConv2d(2 * c, 2 * c, 3, padding=1)
        self.conv_concat2 = BasicConv2d(2 * c, 2 * c, 3, padding=1)
        self.conv_concat3 = BasicConv2d(3 * c, 3 * c, 3, padding=1)
        if levels == 4:
            self.conv_upsample6 = BasicConv2d(3 * c, 3 * c, 3, padding=1)
            self.conv_concat4 = BasicConv2d(4 * c, 4 * c, 3, padding=1)
        self.conv4 = BasicConv2d(levels * c, levels * c, 3, padding=1)
        self.conv5 = nn.Conv2d(levels * c, n_classes, 1)

    def execute(self, *feats):
        x1, x2, x3 = feats[:3]
        up = self.upsample
        x2_1 = self.conv_upsample1(up(x1)) * x2
        x3_1 = self.conv_upsample2(up(up(x1))) * self.conv_upsample3(up(x2)) * x3
        x2_2 = self.conv_concat2(jt.concat([x2_1, self.conv_upsample4(up(x1))], dim=1))
        x = self.conv_concat3(jt.concat([x3_1, self.conv_upsample5(up(x2_2))], dim=1))
        if self.levels == 4:
            x = self.conv_concat4(jt.concat([feats[3], self.conv_upsample6(up(x))], dim=1))
        return self.conv5(self.conv4(x))


class HarDMSEG(nn.Module):
    """HarDNet-68 -> RFBs -> aggregation -> bilinear resize; ``low_level`` adds the 1/4 level (``hardalter``).

    Submodule names follow the original: ``hardnet``, ``rfb1_1`` (only with ``low_level``), ``rfb2_1``,
    ``rfb3_1``, ``rfb4_1``, ``agg1``.
    """

    def __init__(self, in_channels=3, n_classes=2, channel=32, low_level=False):
        super().__init__()
        self.hardnet = HarDNet68(in_channels)
        c4, c8, c16, c32 = self.hardnet.out_channels
        self.low_level = low_level
        if low_level:
            self.rfb1_1 = RFBModified(c4, channel)
        self.rfb2_1 = RFBModified(c8, channel)
        self.rfb3_1 = RFBModified(c16, channel)
        self.rfb4_1 = RFBModified(c32, channel)
        self.agg1 = Aggregation(channel, n_classes, levels=4 if low_level else 3)

    def execute(self, x):
        f4, f8, f16, f32 = self.hardnet(x)
        feats = [self.rfb4_1(f32), self.rfb3_1(f16), self.rfb2_1(f8)]
        if self.low_level:
            feats.append(self.rfb1_1(f4))
        return upsample_like(self.agg1(*feats), x)


@register_model("hardnet", divisor=32)
def hardnet(in_channels=3, n_classes=2, **kw):
    """HarD-MSEG: HarDNet-68 encoder, RFBs and PraNet aggregation over 1/8-1/32, logits at 1/8 upsampled."""
    return HarDMSEG(in_channels, n_classes, **kw)


@register_model("hardalter", divisor=32)
def hardalter(in_channels=3, n_classes=2, **kw):
    """HarD-MSEG with the 1/4 level: RFBs and a 4-stage aggregation over 1/4-1/32, logits at 1/4 upsampled."""
    return HarDMSEG(in_channels, n_classes, low_level=True, **kw)
