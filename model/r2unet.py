"""R2U-Net and R2 Attention U-Net (Alom et al., 2018, arXiv:1802.06955) in the variant of the original library.

Both replace every double conv of :class:`~model.attention_unet.GatedUNet` by a recurrent residual block
(RRCNN: a 1x1 projection, then two recurrent convolution units with t = 3, added back to the projection) and use
``InstanceNorm2d(affine=False)`` instead of BatchNorm everywhere, as the original did; R2 Attention U-Net adds
the attention gates of Attention U-Net.  Upsampling is nearest x2 + conv3-IN-ReLU.
"""
from functools import partial

from jittor import nn

from .registry import register_model
from .attention_unet import GatedUNet

InstanceNorm = partial(nn.InstanceNorm2d, affine=False)


class RecurrentConv(nn.Module):
    """Recurrent convolution unit: ``y = f(x)``, then ``t`` times ``y = f(x + y)``, with one shared
    ``f`` = conv3 -> InstanceNorm -> ReLU (so ``f`` runs ``t + 1`` times, as in the original)."""

    def __init__(self, ch, t=3):
        super().__init__()
        self.t = t
        self.conv = nn.Sequential(nn.Conv2d(ch, ch, 3, padding=1), InstanceNorm(ch), nn.ReLU())

    def execute(self, x):
        y = self.conv(x)
        for _ in range(self.t):
            y = self.conv(x + y)
        return y


class RRCNNBlock(nn.Module):
    """Recurrent residual block: 1x1 projection ``p``, then ``p + RCU(RCU(p))``."""

    def __init__(self, in_ch, out_ch, t=3):
        super().__init__()
        self.proj = nn.Conv2d(in_ch, out_ch, 1)
        self.rcnn = nn.Sequential(RecurrentConv(out_ch, t), RecurrentConv(out_ch, t))

    def execute(self, x):
        x = self.proj(x)
        return x + self.rcnn(x)


def _r2(in_channels, n_classes, attention, t=3, **kw):
    return GatedUNet(in_channels, n_classes, block=partial(RRCNNBlock, t=t), norm=InstanceNorm,
                     attention=attention, **kw)


# min_size 32: Jittor's max pooling refuses an input no larger than its kernel (a 2x2 map at 1/8),
# and InstanceNorm at the 1/16 bottleneck needs more than one pixel to normalise.
@register_model("r2", divisor=16, min_size=32, reference_params=39_077_762)
def r2(in_channels=3, n_classes=2, **kw):
    """R2U-Net: U-Net of recurrent residual blocks (t=3), InstanceNorm, nearest upsampling."""
    return _r2(in_channels, n_classes, attention=False, **kw)


@register_model("r2att", divisor=16, min_size=32, reference_params=39_427_366)
def r2att(in_channels=3, n_classes=2, **kw):
    """R2 Attention U-Net: R2U-Net with additive attention gates on every skip connection."""
    return _r2(in_channels, n_classes, attention=True, **kw)
