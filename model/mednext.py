"""MedNeXt (Roy et al., "MedNeXt: Transformer-driven Scaling of ConvNets for Medical Image Segmentation",
MICCAI 2023) in 2D, sizes S and B, as the authors' ``MedNeXt(dim="2d")`` with residual blocks and residual
up/down-sampling (``do_res``, ``do_res_up_down``).

* **Block** (:class:`MedNeXtBlock`, ConvNeXt-style): depthwise ``k x k`` conv (``conv1``) -> GroupNorm with one
  group per channel (``norm``) -> 1x1 expansion by the ratio ``r`` (``conv2``) -> GELU -> 1x1 compression
  (``conv3``), plus the input.
* **Down** (:class:`MedNeXtResample`): the block with a stride-2 depthwise conv and twice the width out, plus
  a stride-2 1x1 conv of the input (``res_conv``). **Up** (``up=True``): a stride-2 depthwise
  transposed conv and half the width out, plus a stride-2 1x1 transposed conv of the input; both outputs are
  2H - 1 wide and padded by one row and column at the top-left, as the authors' code does.
* **Network**: 1x1 stem to 32 channels, four encoder stages (``enc_block_0..3``, 32-256) each followed by a
  down block, a 512-channel ``bottleneck``, four up blocks whose output adds the encoder map of that size, each
  followed by ``dec_block_3..0``, and a 1x1 conv to the logits (``out_0``). Nine stages of two blocks.
  Expansion ratios: S 2 everywhere; B 2, 3, 4, 4, 4, 4, 4, 3, 2.
* ``kernel_size`` 7 (ConvNeXt's; the authors' class default), or 3 / 5 as the paper's trained networks.
  ``deep_supervision=True`` adds 1x1 heads ``out_1..out_4`` on the decoder maps at 1/2 .. 1/16 (the bottleneck
  for 1/16); ``execute(x, deep=True)`` then returns ``[logits, logits/2, logits/4, logits/8, logits/16]``, each at
  its own resolution. run.py trains on the full-resolution logits.

Differences from the authors' code: the output heads are 1x1 convolutions (theirs are 1x1 transposed
convolutions, the same map with the weight stored transposed), and the parameter that only serves their
gradient checkpointing (``dummy_tensor``) is not built. The paper states 3D counts (kernel 3: S 5.6 M, B
10.5 M; kernel 5: S 5.9 M, B 11.0 M); the 2D network is the same with every ``k x k x k`` kernel ``k x k``,
and ``tests/model/test_transformer.py`` checks that our layers, with 3D kernels, give the paper's counts.
"""
from jittor import nn

from .registry import register_model

SIZES = {
    "s": (2,) * 9,
    "b": (2, 3, 4, 4, 4, 4, 4, 3, 2),
}


class MedNeXtBlock(nn.Module):
    """Depthwise conv -> per-channel GroupNorm -> 1x1 expand (``ratio``) -> GELU -> 1x1 to ``out_ch``; residual
    when ``residual`` (then ``out_ch`` equals ``in_ch``). ``conv``/``stride``: the depthwise layer's type and
    stride (the resampling blocks')."""

    def __init__(self, in_ch, out_ch, ratio, kernel_size, residual=True, conv=nn.Conv2d, stride=1):
        super().__init__()
        self.residual = residual
        self.conv1 = conv(in_ch, in_ch, kernel_size, stride=stride, padding=kernel_size // 2, groups=in_ch)
        self.norm = nn.GroupNorm(in_ch, in_ch)
        self.conv2 = nn.Conv2d(in_ch, ratio * in_ch, 1)
        self.act = nn.GELU()
        self.conv3 = nn.Conv2d(ratio * in_ch, out_ch, 1)

    def execute(self, x):
        y = self.conv3(self.act(self.conv2(self.norm(self.conv1(x)))))
        return x + y if self.residual else y


def _pad_top_left(x):
    return nn.pad(x, (1, 0, 1, 0))


class MedNeXtResample(MedNeXtBlock):
    """Down (``up=False``): the block with a stride-2 depthwise conv, ``out_ch`` (2x) wide, plus ``res_conv``
    (1x1, stride 2). Up: a stride-2 depthwise transposed conv, ``out_ch`` (1/2) wide, plus a 1x1 stride-2
    transposed ``res_conv``; both 2H - 1 wide, padded at the top-left to 2H x 2W."""

    def __init__(self, in_ch, out_ch, ratio, kernel_size, up=False):
        conv = nn.ConvTranspose2d if up else nn.Conv2d
        super().__init__(in_ch, out_ch, ratio, kernel_size, residual=False, conv=conv, stride=2)
        self.up = up
        self.res_conv = conv(in_ch, out_ch, 1, stride=2)

    def execute(self, x):
        y, res = super().execute(x), self.res_conv(x)
        if self.up:
            y, res = _pad_top_left(y), _pad_top_left(res)
        return y + res


class MedNeXt(nn.Module):
    """See the module docstring. ``ratios``: the nine stages' expansion ratios; ``blocks``: blocks per stage."""

    def __init__(self, in_channels=3, n_classes=2, channels=32, ratios=SIZES["s"], blocks=(2,) * 9, kernel_size=7,
                 deep_supervision=False):
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"MedNeXt needs an odd kernel size, got {kernel_size}")
        k, c = kernel_size, channels
        self.deep_supervision = deep_supervision
        self.stem = nn.Conv2d(in_channels, c, 1)
        widths = [c * 2 ** i for i in range(5)] + [c * 2 ** i for i in (3, 2, 1, 0)]

        def stage(i):
            return nn.Sequential(*[MedNeXtBlock(widths[i], widths[i], ratios[i], k) for _ in range(blocks[i])])

        for i in range(4):
            setattr(self, f"enc_block_{i}", stage(i))
            setattr(self, f"down_{i}", MedNeXtResample(widths[i], widths[i + 1], ratios[i + 1], k))
        self.bottleneck = stage(4)
        for j, i in enumerate((3, 2, 1, 0)):
            setattr(self, f"up_{i}", MedNeXtResample(widths[4 + j], widths[5 + j], ratios[5 + j], k, up=True))
            setattr(self, f"dec_block_{i}", stage(5 + j))
        self.out_0 = nn.Conv2d(c, n_classes, 1)
        if deep_supervision:
            for i in range(1, 5):
                setattr(self, f"out_{i}", nn.Conv2d(c * 2 ** i, n_classes, 1))

    def execute(self, x, deep=False):
        if deep and not self.deep_supervision:
            raise ValueError("deep=True needs a MedNeXt built with deep_supervision=True")
        x = self.stem(x)
        skips = []
        for i in range(4):
            x = getattr(self, f"enc_block_{i}")(x)
            skips.append(x)
            x = getattr(self, f"down_{i}")(x)
        x = self.bottleneck(x)
        deep_maps = [x]
        for i in (3, 2, 1, 0):
            x = getattr(self, f"dec_block_{i}")(skips[i] + getattr(self, f"up_{i}")(x))
            deep_maps.append(x)
        logits = self.out_0(x)
        if not deep:
            return logits
        # deep_maps: bottleneck (1/16), then the decoder at 1/8, 1/4, 1/2, 1
        return [logits] + [getattr(self, f"out_{i}")(deep_maps[4 - i]) for i in range(1, 5)]


def _register(size, description):
    @register_model(f"mednext_{size}", divisor=16, min_size=16, description=description)
    def build(in_channels=3, n_classes=2, **kw):
        return MedNeXt(in_channels, n_classes, ratios=SIZES[size], **kw)
    return build


mednext_s = _register("s", "MedNeXt-S 2D: ConvNeXt blocks (depthwise 7x7, GroupNorm, expansion 2), residual "
                           "up/down-sampling, 32-512 channels.")
mednext_b = _register("b", "MedNeXt-B 2D: ConvNeXt blocks (depthwise 7x7, GroupNorm, expansion 2-4), residual "
                           "up/down-sampling, 32-512 channels.")
