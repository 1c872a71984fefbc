"""U^2-Net (Qin et al., 2020, "U^2-Net: Going deeper with nested U-structure for salient object detection").

A two-level nested U-Net: each of the eleven stages of the outer U is itself a small U-Net, the residual U-block
RSU-L (``RSU``).  Max pooling uses ``ceil_mode`` and every upsampling is a bilinear resize to the size of the
skip connection (``upsample_like``), so inputs of any size work (multiples of 32 keep the pyramid exact).  Six
side outputs (3x3 convolutions on the decoder stages and the bottom stage, resized to the input) are fused by a
1x1 convolution into ``d0``, which is what the network returns, as in the original.  The original trains only on
``d0`` too (its deep-supervision loss over the side outputs is not used by run.py), so the side outputs are
reached only through the fusion.

``u2net`` is the full model (44.05 M parameters), ``u2netp`` the small one (1.14 M): the same RSU blocks, narrower.
"""
import jittor as jt
from jittor import nn

from .registry import register_model
from .blocks import ConvBNReLU, upsample_like

# (mid, out) channels of the encoder stages 1..6 and of the decoder stages 5d..1d.  Stage heights (RSU-L):
# encoder 7, 6, 5, 4, 4F, 4F; decoder 4F, 4, 5, 6, 7 ("F": dilated, no pooling).
U2NET_WIDTHS = {
    "encoder": ((32, 64), (32, 128), (64, 256), (128, 512), (256, 512), (256, 512)),
    "decoder": ((256, 512), (128, 256), (64, 128), (32, 64), (16, 64)),
}
U2NETP_WIDTHS = {"encoder": ((16, 64),) * 6, "decoder": ((16, 64),) * 5}
ENCODER_HEIGHTS = ((7, False), (6, False), (5, False), (4, False), (4, True), (4, True))
DECODER_HEIGHTS = ((4, True), (4, False), (5, False), (6, False), (7, False))


def max_pool_ceil(x):
    """2x2 max pooling, stride 2, ceil mode (odd sizes keep their last row/column)."""
    return nn.max_pool2d(x, 2, stride=2, ceil_mode=True)


class RSU(nn.Module):
    """Residual U-block RSU-L: ``convin(x) + U(convin(x))`` where U is an L-level U-Net of conv-BN-ReLU layers.

    ``convin``: in -> out.  Encoder: ``enc[0]`` out -> mid, then L - 1 mid -> mid layers; ``enc[1..L-2]`` each
    follow a 2x2 ceil-mode max pool and the last, at the lowest resolution, is dilated by 2.  Decoder: L - 1
    layers on ``concat([deeper, skip])`` (2 mid channels), the deeper map resized bilinearly to the skip; the
    last gives ``out`` channels.  ``dilated=True`` is RSU-4F: no pooling; the dilations 1, 2, 4, 8 grow instead,
    and the decoder layers mirror the dilation of their skip.
    """

    def __init__(self, height, in_ch, mid_ch, out_ch, dilated=False):
        super().__init__()
        self.pooled = not dilated
        if dilated:
            enc_dil = [2 ** i for i in range(height)]
        else:
            enc_dil = [1] * (height - 1) + [2]
        self.convin = ConvBNReLU(in_ch, out_ch)
        self.enc = nn.ModuleList([ConvBNReLU(out_ch if i == 0 else mid_ch, mid_ch, dilation=enc_dil[i])
                                  for i in range(height)])
        # dec[j] joins the deeper map with the skip enc[height - 2 - j].
        self.dec = nn.ModuleList([
            ConvBNReLU(2 * mid_ch, out_ch if skip == 0 else mid_ch, dilation=enc_dil[skip] if dilated else 1)
            for skip in reversed(range(height - 1))])

    def execute(self, x):
        xin = self.convin(x)
        skips, h = [], xin
        for i, conv in enumerate(self.enc):
            if self.pooled and 0 < i < len(self.enc) - 1:
                h = max_pool_ceil(h)
            h = conv(h)
            skips.append(h)
        d = skips.pop()
        for conv in self.dec:
            skip = skips.pop()
            d = conv(jt.concat([upsample_like(d, skip), skip], dim=1))
        return d + xin


class U2Net(nn.Module):
    """Outer U of six encoder RSU stages (``stage1..stage6``) and five decoder stages (``stage5d..stage1d``).

    ``side1..side6`` are 3x3 convolutions to ``n_classes`` on stage1d..stage5d and stage6; ``outconv`` fuses
    their six maps (resized to the input) with a 1x1 convolution.  Submodule names follow the original.
    """

    def __init__(self, in_channels=3, n_classes=2, widths=U2NET_WIDTHS):
        super().__init__()
        enc_out = []
        c = in_channels
        for i, ((mid, out), (height, dilated)) in enumerate(zip(widths["encoder"], ENCODER_HEIGHTS), 1):
            setattr(self, f"stage{i}", RSU(height, c, mid, out, dilated))
            enc_out.append(out)
            c = out
        side_in = [c]  # stage6 feeds side6
        for i, ((mid, out), (height, dilated)) in zip(range(5, 0, -1), zip(widths["decoder"], DECODER_HEIGHTS)):
            setattr(self, f"stage{i}d", RSU(height, c + enc_out[i - 1], mid, out, dilated))
            side_in.append(out)
            c = out
        # side_in holds stage6, stage5d, ..., stage1d: side6 .. side1.
        for i, ch in zip(range(6, 0, -1), side_in):
            setattr(self, f"side{i}", nn.Conv2d(ch, n_classes, 3, padding=1))
        self.outconv = nn.Conv2d(6 * n_classes, n_classes, 1)

    def execute(self, x):
        skips = []
        h = x
        for i in range(1, 7):
            if i > 1:
                h = max_pool_ceil(h)
            h = getattr(self, f"stage{i}")(h)
            skips.append(h)
        d = skips.pop()
        sides = {6: self.side6(d)}
        for i in range(5, 0, -1):
            skip = skips.pop()
            d = getattr(self, f"stage{i}d")(jt.concat([upsample_like(d, skip), skip], dim=1))
            sides[i] = getattr(self, f"side{i}")(d)
        d1 = sides[1]
        return self.outconv(jt.concat([upsample_like(sides[i], d1) for i in range(1, 7)], dim=1))


@register_model("u2net", divisor=1, min_size=32, reference_params=44_052_518)
def u2net(in_channels=3, n_classes=2, **kw):
    """U^2-Net: nested U-structure of residual U-blocks, fused side outputs (44.05 M parameters)."""
    return U2Net(in_channels, n_classes, U2NET_WIDTHS, **kw)


@register_model("u2netp", divisor=1, min_size=32, reference_params=1_140_358)
def u2netp(in_channels=3, n_classes=2, **kw):
    """U^2-Net-small (U2NETP): the same nested U-structure with 16/64-channel blocks (1.14 M parameters)."""
    return U2Net(in_channels, n_classes, U2NETP_WIDTHS, **kw)
