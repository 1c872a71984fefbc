"""Swin-UNETR (Hatamizadeh et al., "Swin UNETR: Swin Transformers for Semantic Segmentation of Brain Tumors in
MRI Images", BrainLes 2021) in 2D, laid out as MONAI's ``SwinUNETR(spatial_dims=2)`` with the paper's feature
size 48.

* **Swin encoder** (``swin``): 2x2 patch embedding to 48 channels (1/2), then four stages of two Swin blocks
  each (heads 3, 6, 12, 24; window 7; the second block of a stage shifts the windows by 3) ending in patch
  merging (1/4 .. 1/32, 96 .. 768 channels). A Swin block is pre-norm window attention
  (:class:`model.transformer.MultiHeadAttention` over :func:`model.transformer.window_partition` windows, plus
  the learnt :class:`model.transformer.RelativePositionBias`; shifted blocks roll the map and use
  :func:`model.transformer.shifted_window_mask`) and a 4x MLP, both residual. Maps are zero-padded to a
  multiple of the window (after the norm, as MONAI and Swin do); a map no larger than the window takes a
  window of its own size and no shift. The five outputs (the embedding and each stage) are LayerNorm-ed over
  their channels without parameters (MONAI's ``normalize=True``).
* **UNETR-style decoder**: residual conv blocks (two conv3 + InstanceNorm + LeakyReLU 0.01, with a 1x1 conv
  shortcut when the width changes; convolutions without bias, InstanceNorm without affine parameters, as
  MONAI) on the input (``encoder1``), the embedding and stages 1-2 (``encoder2..4``) and the 1/32 map
  (``encoder10``); five up blocks (2x2 transposed conv, concatenate the skip, residual block) back to full
  resolution (``decoder5..1``) and a 1x1 conv to the logits (``out``).

Differences from MONAI: a window smaller than the configured one (maps of 4 x 4 at 128 px) reads the
relative-position table at the right offsets (MONAI slices the 7 x 7 window's index table, which gives such
windows the biases of other offsets).
"""
import numpy as np

import jittor as jt
from jittor import nn

from .blocks import ConvBNReLU
from .registry import register_model
from .transformer import (LayerNorm2d, Mlp, MultiHeadAttention, PatchEmbed, PatchMerging, RelativePositionBias,
                          drop_path, shifted_window_mask, window_partition, window_reverse)


def _instance_norm(channels):
    return nn.InstanceNorm2d(channels, affine=False)


class SwinBlock(nn.Module):
    """``norm1`` -> (shifted) window attention ``attn`` with ``position_bias`` -> residual; ``norm2`` -> ``mlp``
    -> residual. Works on ``B x H x W x C`` maps."""

    def __init__(self, dim, heads, window, shift, mlp_ratio=4, path_drop=0.0):
        super().__init__()
        self.window, self.shift = window, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = MultiHeadAttention(dim, heads, layout="qkv")
        self.position_bias = RelativePositionBias(window, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, dim * mlp_ratio)
        self.drop_path = drop_path(path_drop)
        self._masks = {}

    def window_and_shift(self, h, w):
        """MONAI's rule: along an axis no longer than the window, the window is the axis and there is no shift."""
        wh, ww = min(h, self.window), min(w, self.window)
        sh = self.shift if self.shift and h > self.window else 0
        sw = self.shift if self.shift and w > self.window else 0
        return wh, ww, sh, sw

    def _mask(self, b, hp, wp, wh, ww, sh, sw):
        key = (b, hp, wp, wh, ww, sh, sw)
        if key not in self._masks:
            mask = shifted_window_mask(hp, wp, wh, ww, sh, sw)
            self._masks[key] = np.tile(mask[None], (b, 1, 1, 1)).reshape(-1, 1, wh * ww, wh * ww)
        return self._masks[key]

    def attend(self, x):
        b, h, w, c = x.shape
        wh, ww, sh, sw = self.window_and_shift(h, w)
        pad_b, pad_r = -h % wh, -w % ww
        if pad_b or pad_r:
            x = nn.pad(x, (0, 0, 0, pad_r, 0, pad_b))
        hp, wp = h + pad_b, w + pad_r
        shifted = bool(sh or sw)
        if shifted:
            x = jt.roll(x, (-sh, -sw), (1, 2))
        mask = self._mask(b, hp, wp, wh, ww, sh, sw) if shifted else None
        out = self.attn(window_partition(x, wh, ww), bias=self.position_bias(wh, ww), mask=mask)
        x = window_reverse(out, wh, ww, hp, wp)
        if shifted:
            x = jt.roll(x, (sh, sw), (1, 2))
        return x[:, :h, :w, :] if (pad_b or pad_r) else x

    def execute(self, x):
        x = x + self.drop_path(self.attend(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class SwinStage(nn.Module):
    """``blocks`` (alternately unshifted and shifted by ``window // 2``), then ``downsample``
    (:class:`PatchMerging`, 2x the width, half the size)."""

    def __init__(self, dim, depth, heads, window, path_drops):
        super().__init__()
        self.blocks = nn.ModuleList([SwinBlock(dim, heads, window, window // 2 if i % 2 else 0, path_drop=path_drops[i])
                                     for i in range(depth)])
        self.downsample = PatchMerging(dim)

    def execute(self, x):
        for block in self.blocks:
            x = block(x)
        return self.downsample(x)


class SwinEncoder(nn.Module):
    """``patch_embed`` and ``layers1..4`` (:class:`SwinStage`); returns the five normalised maps
    ``B x C x H x W`` (1/2 .. 1/32)."""

    def __init__(self, in_channels, feature_size, depths, heads, window, drop_path_rate=0.0):
        super().__init__()
        self.patch_embed = PatchEmbed(in_channels, feature_size, 2, norm=False)
        rates = np.linspace(0, drop_path_rate, sum(depths)).tolist()
        start = 0
        for i, (depth, head) in enumerate(zip(depths, heads), 1):
            setattr(self, f"layers{i}", SwinStage(feature_size * 2 ** (i - 1), depth, head, window,
                                                  rates[start:start + depth]))
            start += depth
        self.n_stages = len(depths)
        self.normalise = LayerNorm2d(1, affine=False)

    def execute(self, x):
        t, (h, w) = self.patch_embed(x)
        x = t.reshape(t.shape[0], h, w, -1)
        outs = [x]
        for i in range(1, self.n_stages + 1):
            x = getattr(self, f"layers{i}")(x)
            outs.append(x)
        return [self.normalise(o.transpose(0, 3, 1, 2)) for o in outs]


class ResBlock(nn.Module):
    """MONAI's ``UnetResBlock`` (kernel 3, stride 1): ``conv1`` (conv + InstanceNorm) -> LeakyReLU -> ``conv2``,
    plus the input (through ``conv3``, a 1x1 conv + InstanceNorm, when the width changes), -> LeakyReLU."""

    def __init__(self, in_ch, out_ch):
        super().__init__()
        self.conv1 = ConvBNReLU(in_ch, out_ch, bias=False, norm=_instance_norm, act=None)
        self.conv2 = ConvBNReLU(out_ch, out_ch, bias=False, norm=_instance_norm, act=None)
        self.conv3 = ConvBNReLU(in_ch, out_ch, 1, bias=False, norm=_instance_norm, act=None) if in_ch != out_ch else None

    def execute(self, x):
        out = self.conv2(nn.leaky_relu(self.conv1(x), 0.01))
        return nn.leaky_relu(out + (x if self.conv3 is None else self.conv3(x)), 0.01)


class UpBlock(nn.Module):
    """MONAI's ``UnetrUpBlock``: 2x2 stride-2 transposed conv (no bias) ``transp_conv``, concatenate
    ``[up, skip]``, :class:`ResBlock` ``conv_block``."""

    def __init__(self, in_ch, out_ch):
        super().__init__()
        self.transp_conv = nn.ConvTranspose2d(in_ch, out_ch, 2, stride=2, bias=False)
        self.conv_block = ResBlock(2 * out_ch, out_ch)

    def execute(self, x, skip):
        return self.conv_block(jt.concat([self.transp_conv(x), skip], dim=1))


class SwinUNETR(nn.Module):
    """``swin`` (:class:`SwinEncoder`), ``encoder1..4``/``encoder10`` (:class:`ResBlock`), ``decoder5..1``
    (:class:`UpBlock`), ``out`` (1x1 conv)."""

    def __init__(self, in_channels=3, n_classes=2, feature_size=48, depths=(2, 2, 2, 2), heads=(3, 6, 12, 24),
                 window_size=7, drop_path_rate=0.0):
        super().__init__()
        f = feature_size
        self.swin = SwinEncoder(in_channels, f, depths, heads, window_size, drop_path_rate)
        self.encoder1 = ResBlock(in_channels, f)
        self.encoder2 = ResBlock(f, f)
        self.encoder3 = ResBlock(2 * f, 2 * f)
        self.encoder4 = ResBlock(4 * f, 4 * f)
        self.encoder10 = ResBlock(16 * f, 16 * f)
        self.decoder5 = UpBlock(16 * f, 8 * f)
        self.decoder4 = UpBlock(8 * f, 4 * f)
        self.decoder3 = UpBlock(4 * f, 2 * f)
        self.decoder2 = UpBlock(2 * f, f)
        self.decoder1 = UpBlock(f, f)
        self.out = nn.Conv2d(f, n_classes, 1)

    def execute(self, x):
        h0, h1, h2, h3, h4 = self.swin(x)
        enc0, enc1, enc2, enc3 = self.encoder1(x), self.encoder2(h0), self.encoder3(h1), self.encoder4(h2)
        d = self.decoder5(self.encoder10(h4), h3)
        d = self.decoder4(d, enc3)
        d = self.decoder3(d, enc2)
        d = self.decoder2(d, enc1)
        return self.out(self.decoder1(d, enc0))


@register_model("swinunetr", divisor=32, min_size=32)
def swinunetr(in_channels=3, n_classes=2, **kw):
    """Swin-UNETR 2D: Swin encoder (48-768, windows 7, shifted), UNETR residual conv decoder (InstanceNorm)."""
    return SwinUNETR(in_channels, n_classes, **kw)
