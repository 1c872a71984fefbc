"""Attention U-Net (Oktay et al., 2018, arXiv:1804.03999) in the variant of the original library.

The network is a five-level U-Net (64-128-256-512-1024) whose decoder upsamples with nearest x2 followed by
conv3-norm-ReLU (:class:`~model.blocks.UpConv`) and gates every skip connection with an additive attention gate
(:class:`~model.blocks.AttentionGate`) before the concatenation.  :class:`GatedUNet` is written so that the
encoder/decoder block and the normalisation can be swapped: R2U-Net and R2 Attention U-Net (model/r2unet.py)
are the same skeleton with recurrent residual blocks and InstanceNorm.
"""
import jittor as jt
from jittor import nn

from .registry import register_model
from .blocks import AttentionGate, DoubleConv, OutConv, UpConv


class GatedUNet(nn.Module):
    """Five-level U-Net with nearest-upsampling ``UpConv`` decoders and optional attention gates on the skips.

    ``block(in_ch, out_ch)`` builds every encoder and decoder block (the double conv by default); ``norm(ch)``
    the normalisation of the ``UpConv`` and attention layers; ``attention`` adds one gate per skip with
    ``inter = skip channels // 2``.  Submodules: ``encoders`` (5, the last is the 1/16 bottleneck), ``pool``,
    ``ups`` / ``gates`` / ``decoders`` (4 each, deepest first), ``outc`` (1x1 to logits).
    """

    def __init__(self, in_channels=3, n_classes=2, block=DoubleConv, norm=nn.BatchNorm2d, attention=True,
                 widths=(64, 128, 256, 512, 1024)):
        super().__init__()
        self.pool = nn.MaxPool2d(2, stride=2)
        ins = (in_channels,) + tuple(widths[:-1])
        self.encoders = nn.ModuleList([block(i, o) for i, o in zip(ins, widths)])
        deep_to_shallow = list(zip(widths[:0:-1], widths[-2::-1]))  # (1024, 512), (512, 256), ...
        self.ups = nn.ModuleList([UpConv(i, o, norm) for i, o in deep_to_shallow])
        self.gates = nn.ModuleList([AttentionGate(o, o, o // 2, norm) for _, o in deep_to_shallow]) \
            if attention else None
        self.decoders = nn.ModuleList([block(2 * o, o) for _, o in deep_to_shallow])
        self.outc = OutConv(widths[0], n_classes)

    def execute(self, x):
        skips = []
        for i, encoder in enumerate(self.encoders):
            x = encoder(x if i == 0 else self.pool(x))
            skips.append(x)
        skips.pop()  # the bottleneck is not a skip
        for i, (up, decoder) in enumerate(zip(self.ups, self.decoders)):
            d = up(x)
            skip = skips.pop()
            if self.gates is not None:
                skip = self.gates[i](d, skip)
            x = decoder(jt.concat([skip, d], dim=1))
        return self.outc(x)


# min_size 32: Jittor's max pooling refuses an input no larger than its kernel (a 2x2 map at 1/8).
@register_model("attunet", divisor=16, min_size=32)
def attunet(in_channels=3, n_classes=2, **kw):
    """Attention U-Net: 64-1024 U-Net, nearest-upsampling decoders, additive attention gates on every skip."""
    return GatedUNet(in_channels, n_classes, **kw)
