"""SCSE-UNet: the UNet of model/unet.py with a concurrent spatial and channel squeeze & excitation gate
(scSE; Roy et al., 2018, arXiv:1803.02579) after every encoder block and every decoder ``Up`` block.

Difference from the original library: the gates use a sigmoid, as the paper and the PyTorch code the original
was converted from do.  The original called ``nn.softmax(x)`` without a dimension, which in Jittor is a softmax
over every element of the tensor, batch included; it scaled each gated feature map down by about the number of
elements (and differently for training and test batch sizes) and the published model predicted all background.
"""
import jittor as jt
from jittor import nn

from .registry import register_model
from .unet import UNet


class SCSE(nn.Module):
    """``x * cSE(x) + x * sSE(x)``.

    cSE (channel excitation): global average pool -> Linear(C, C/r) -> ReLU -> Linear(C/r, C) -> sigmoid, one
    weight per channel.  sSE (spatial excitation): 1x1 conv to one channel -> sigmoid, one weight per pixel.
    (The original named these the other way round: ``spatial_gate`` was the channel excitation.)
    """

    def __init__(self, ch, reduction=16):
        super().__init__()
        self.cse = nn.Sequential(nn.Linear(ch, ch // reduction), nn.ReLU(), nn.Linear(ch // reduction, ch))
        self.sse = nn.Conv2d(ch, 1, 1)

    def execute(self, x):
        b, c = x.shape[:2]
        channel_weights = jt.sigmoid(self.cse(x.mean(dims=(2, 3)))).reshape(b, c, 1, 1)
        return x * channel_weights + x * jt.sigmoid(self.sse(x))


class Gated(nn.Module):
    """``gate(block(*inputs))``: a UNet block followed by an :class:`SCSE` gate on its output."""

    def __init__(self, block, reduction=16):
        super().__init__()
        self.block = block
        bns = [m for m in block.modules() if isinstance(m, nn.BatchNorm2d)]
        self.gate = SCSE(bns[-1].num_features, reduction)  # the block's output width

    def execute(self, *inputs):
        return self.gate(self.block(*inputs))


class SCSEUNet(UNet):
    """:class:`~model.unet.UNet` whose ``inc, down1..down4, up1..up4`` are each followed by an SCSE gate.

    The UNet's forward pass is reused unchanged; the names stay ``inc, down1..down4, up1..up4, outc`` (each
    gated one holds ``block`` and ``gate``), so ``--layer down4`` hooks the gated bottleneck.
    """

    def __init__(self, in_channels=3, n_classes=2, bilinear=True, base=64, reduction=16):
        super().__init__(in_channels, n_classes, bilinear=bilinear, base=base)
        for name in ("inc", "down1", "down2", "down3", "down4", "up1", "up2", "up3", "up4"):
            setattr(self, name, Gated(getattr(self, name), reduction))


# min_size 32: Jittor's max pooling refuses an input no larger than its kernel (a 2x2 map at 1/8).
@register_model("scseunet", divisor=16, min_size=32)
def scseunet(in_channels=3, n_classes=2, **kw):
    """SCSE-UNet: UNet with sigmoid scSE gates after every encoder and decoder block."""
    return SCSEUNet(in_channels, n_classes, **kw)
