"""HarDNet-68 (Chao et al., "HarDNet: A Low Memory Traffic Network", ICCV 2019) as a multi-scale encoder.

The encoder of the original library's HarDMSEG models (``hardnet`` and ``hardalter``): the classification
network without its pooling/linear head, trained from scratch (the original never loaded ImageNet weights).
:class:`HarDNet68` returns the feature maps after the 1x1 transitions that precede each downsampling and after
the last one: 128 channels at 1/4, 320 at 1/8, 640 at 1/16 and 1024 at 1/32 of the input.
"""
import jittor as jt
from jittor import nn

from utils.errors import ConfigError

from ..blocks import ConvBNReLU
from ..registry import register_encoder


def conv_layer(in_ch, out_ch, kernel_size=3, stride=1):
    """conv(k, no bias) -> BatchNorm -> ReLU6, HarDNet's basic layer (submodules ``conv, norm, relu``, as in
    the HarDNet code's checkpoints)."""
    return ConvBNReLU(in_ch, out_ch, kernel_size, stride=stride, bias=False, act=nn.ReLU6,
                      names=("conv", "norm", "relu"))


def harmonic_links(layer, base_ch, growth, grmul):
    """``(out_channels, in_channels, links)`` of layer ``layer`` (1-based) of a harmonic dense block.

    Layer ``l`` reads every earlier layer ``l - 2**i`` with ``2**i`` dividing ``l`` (layer 0 is the block
    input, ``base_ch`` channels); its width is ``growth * grmul**(number of links - 1)`` rounded to an even
    number.
    """
    if layer == 0:
        return base_ch, 0, []
    links, out_ch, i = [], float(growth), 0
    while 2 ** i <= layer:
        if layer % 2 ** i == 0:
            links.append(layer - 2 ** i)
            if i > 0:
                out_ch *= grmul
        i += 1
    out_ch = int(int(out_ch + 1) / 2) * 2
    in_ch = sum(harmonic_links(k, base_ch, growth, grmul)[0] for k in links)
    return out_ch, in_ch, links


class HarDBlock(nn.Module):
    """Harmonic dense block: ``n_layers`` ConvLayers wired by :func:`harmonic_links`.

    The output concatenates the odd-numbered layers and the last one (not the block input), ``out_channels``
    channels.
    """

    def __init__(self, in_ch, growth, grmul, n_layers):
        super().__init__()
        self.links = []
        layers = []
        self.out_channels = 0
        for i in range(1, n_layers + 1):
            out_ch, link_ch, links = harmonic_links(i, in_ch, growth, grmul)
            self.links.append(links)
            layers.append(conv_layer(link_ch, out_ch))
            if i % 2 == 1 or i == n_layers:
                self.out_channels += out_ch
        self.layers = nn.ModuleList(layers)

    def execute(self, x):
        outs = [x]
        for links, layer in zip(self.links, self.layers):
            inp = [outs[k] for k in links]
            outs.append(layer(jt.concat(inp, dim=1) if len(inp) > 1 else inp[0]))
        last = len(outs) - 1
        return jt.concat([t for i, t in enumerate(outs) if i % 2 == 1 or i == last], dim=1)


class HarDNet68(nn.Module):
    """HarDNet-68 encoder; ``execute`` returns ``[128 @ 1/4, 320 @ 1/8, 640 @ 1/16, 1024 @ 1/32]``.

    ``base`` is the original's flat module list: stem (conv3 s2 -> conv3 -> maxpool 3/2), then per block a
    HarDBlock, a 1x1 ConvLayer transition and, where the architecture downsamples, a 2x2 max pooling. The taps
    are ``base[4], base[9], base[12], base[15]`` as in the original.
    """

    STEM = (32, 64)
    WIDTHS = (128, 256, 320, 640, 1024)      # transition output channels per block
    GROWTH = (14, 16, 20, 40, 160)
    N_LAYERS = (8, 16, 16, 16, 4)
    DOWNSAMPLE = (True, False, True, True, False)
    GRMUL = 1.7

    def __init__(self, in_channels=3):
        super().__init__()
        base = [conv_layer(in_channels, self.STEM[0], 3, stride=2),
                conv_layer(self.STEM[0], self.STEM[1], 3),
                nn.MaxPool2d(3, stride=2, padding=1)]
        self.taps, self.out_channels = [], []
        ch = self.STEM[1]
        for i, width in enumerate(self.WIDTHS):
            block = HarDBlock(ch, self.GROWTH[i], self.GRMUL, self.N_LAYERS[i])
            base += [block, conv_layer(block.out_channels, width, 1)]
            ch = width
            if self.DOWNSAMPLE[i] or i == len(self.WIDTHS) - 1:
                self.taps.append(len(base) - 1)
                self.out_channels.append(width)
            if self.DOWNSAMPLE[i]:
                base.append(nn.MaxPool2d(2, stride=2))
        self.base = nn.ModuleList(base)

    def execute(self, x):
        feats = []
        for i, layer in enumerate(self.base):
            x = layer(x)
            if i in self.taps:
                feats.append(x)
        return feats


@register_encoder("hardnet68")
def hardnet68(in_channels=3, weights=None):
    """HarDNet-68 (trained from scratch: no ImageNet weights are imported for it)"""
    if weights:
        raise ConfigError("the HarDNet-68 encoder takes no ImageNet weights (--backbone-weights)")
    return HarDNet68(in_channels)
