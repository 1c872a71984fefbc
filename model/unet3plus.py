"""UNet 3+ (Huang et al., 2020, arXiv:2004.08790) without deep supervision, as in the original library.

Encoder: five double-conv levels 64-128-256-512-1024 with 2x2 max pooling.  Every decoder level ``d`` (4, 3, 2,
1) takes full-scale skips from all five scales: shallower encoder maps are max-pooled down (``ceil_mode``),
the same-level encoder map is taken as it is, and deeper decoder maps (and the bottleneck) are bilinearly
upsampled; each of the five inputs goes through conv3-BN-ReLU to 64 channels, the 5 x 64 = 320 channels are
concatenated and fused by one more conv3-BN-ReLU.  A 1x1 convolution on decoder level 1 gives the logits.
"""
import jittor as jt
from jittor import nn

from .registry import register_model
from .blocks import ConvBNReLU, DoubleConv, OutConv

CAT_CHANNELS = 64
LEVELS = 5


class FullScaleBranch(nn.Sequential):
    """Resample from ``src`` to ``dst`` level (max-pool down, bilinear up, or nothing), then conv3-BN-ReLU to 64."""

    def __init__(self, in_ch, src, dst):
        scale = 2 ** abs(src - dst)
        if src < dst:
            resample = [nn.MaxPool2d(scale, stride=scale, ceil_mode=True)]
        elif src > dst:
            resample = [nn.Upsample(scale_factor=scale, mode="bilinear", align_corners=False)]
        else:
            resample = []
        super().__init__(*resample, ConvBNReLU(in_ch, CAT_CHANNELS))


class FullScaleDecoder(nn.Module):
    """One UNet 3+ decoder level: five :class:`FullScaleBranch` inputs, concatenated (320 ch) and fused."""

    def __init__(self, level, in_channels):
        super().__init__()
        self.branches = nn.ModuleList([FullScaleBranch(c, src, level) for src, c in enumerate(in_channels)])
        self.fuse = ConvBNReLU(CAT_CHANNELS * LEVELS, CAT_CHANNELS * LEVELS)

    def execute(self, features):
        return self.fuse(jt.concat([b(f) for b, f in zip(self.branches, features)], dim=1))


class UNet3Plus(nn.Module):
    """UNet 3+; ``encoders`` (5 double convs), ``decoders`` (levels 3, 2, 1, 0 at 1/8 .. 1/1), ``outc``."""

    def __init__(self, in_channels=3, n_classes=2, widths=(64, 128, 256, 512, 1024)):
        super().__init__()
        self.pool = nn.MaxPool2d(2, stride=2)
        ins = (in_channels,) + tuple(widths[:-1])
        self.encoders = nn.ModuleList([DoubleConv(i, o) for i, o in zip(ins, widths)])
        up_ch = CAT_CHANNELS * LEVELS
        # Decoder level d sees encoders 0..d and, deeper, the decoders d+1..3 (320 ch) and the bottleneck.
        self.decoders = nn.ModuleList([
            FullScaleDecoder(d, list(widths[:d + 1]) + [up_ch] * (LEVELS - 2 - d) + [widths[-1]])
            for d in range(LEVELS - 2, -1, -1)])
        self.outc = OutConv(up_ch, n_classes)

    def execute(self, x):
        enc = []
        for i, encoder in enumerate(self.encoders):
            x = encoder(x if i == 0 else self.pool(x))
            enc.append(x)
        deeper = [enc[-1]]  # decoder outputs below the current level, deepest last
        for d, decoder in zip(range(LEVELS - 2, -1, -1), self.decoders):
            x = decoder(enc[:d + 1] + deeper)
            deeper.insert(0, x)
        return self.outc(x)


# min_size 32: Jittor's max pooling refuses an input no larger than its kernel (a 2x2 map at 1/8).
@register_model("unet3p", divisor=16, min_size=32)
def unet3p(in_channels=3, n_classes=2, **kw):
    """UNet 3+: full-scale skip connections (5 x 64 = 320 channels per decoder level), no deep supervision."""
    return UNet3Plus(in_channels, n_classes, **kw)
