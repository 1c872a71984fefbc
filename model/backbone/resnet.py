"""ResNet encoders (He et al., 2016, "Deep Residual Learning for Image Recognition"), depths 18/34/50/101.

One implementation serves every ResNet-based network of the zoo:

* the plain ImageNet ResNet (7x7 stride-2 stem + 3x3 max pool), as CE-Net (ResNet-34) and D-LinkNet
  (ResNet-50) took it from ``jittor.models``;
* the dilated ResNet-101 of the original's ``model/backbone/resnet.py`` (:func:`dilated_resnet101`), which
  DeepLabV3+, PSPNet, DANet, OCNet, OCRNet and ResUNet share: a deep stem, output stride 16 and multi-grid
  dilations (1, 2, 4) in ``layer4``.

Parameter names follow torchvision (``conv1, bn1, layer1..layer4``, blocks ``conv1/bn1/conv2/bn2[/conv3/bn3]``,
``downsample.0/.1``; there is no ``fc``), so an ImageNet ``state_dict`` maps one to one onto the standard stem
(``model/backbone/weights.py`` checks and loads it). Bottlenecks put the stride on the 3x3 convolution (torchvision's
"ResNet v1.5", which the original's backbone also does).

Deep stem (``deep_stem=True``): ``conv1`` is ``Sequential(conv3 3->64 s2, BN, ReLU, conv3 64->64, BN, ReLU,
conv3 64->128)`` followed by ``bn1`` (128) and ReLU: the "deep base" of PSPNet/DeepLab's ResNets, laid out and
named like timm's deep stem with stem width 64 (e.g. ``gluon_resnet101_v1s``). The original ended the stem with
the third convolution alone, without BatchNorm or ReLU, before the max pool; we add ``bn1`` + ReLU as the
deep-stem ResNets do (+512 values, 0.001% of DeepLab).

Dilation (output stride 16 or 8) follows the original: with OS16 ``layer4`` has stride 1 and dilation 2,
with OS8 ``layer3``/``layer4`` have stride 1 and dilation 2/4; every block of a dilated layer, the first
included, uses the layer's dilation, times the multi-grid factor in ``layer4``.

``execute`` returns the feature maps, largest first: the stem output (after ReLU, before the max pool, 1/2),
then ``layer1`` (1/4) ... ``layer4`` (or up to ``last_layer``); ``channels`` lists their widths.
"""
from jittor import nn

from utils.errors import ConfigError

from ..blocks import upsample_like
from ..registry import register_encoder
from .weights import load_backbone_state, read_weights


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity (or 1x1 projection) shortcut; ResNet-18/34."""

    expansion = 1

    def __init__(self, inplanes, planes, stride=1, dilation=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=dilation, dilation=dilation, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.downsample = downsample

    def execute(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce -> 3x3 (stride, dilation) -> 1x1 expand (x4), each with BatchNorm; ResNet-50/101."""

    expansion = 4

    def __init__(self, inplanes, planes, stride=1, dilation=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU()
        self.downsample = downsample

    def execute(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


# depth -> (block, blocks per layer)
SPECS = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
}

# output stride -> (strides, dilations) of layer1..layer4
_STRIDES = {
    32: ((1, 2, 2, 2), (1, 1, 1, 1)),
    16: ((1, 2, 2, 1), (1, 1, 1, 2)),
    8: ((1, 2, 1, 1), (1, 1, 2, 4)),
}


class ResNet(nn.Module):
    """ResNet encoder with torchvision's parameter names (see the module docstring).

    ``depth``: 18, 34, 50 or 101. ``output_stride``: 32 (plain), 16 or 8 (dilated). ``multi_grid``: per-block
    dilation factors of ``layer4`` (one per block), e.g. ``(1, 2, 4)``. ``deep_stem``: three 3x3 convolutions
    instead of the 7x7 one. ``last_layer``: 3 builds ``layer1..layer3`` only (ResUNet's encoder).
    """

    def __init__(self, depth=50, in_channels=3, output_stride=32, multi_grid=None, deep_stem=False, last_layer=4):
        super().__init__()
        if depth not in SPECS:
            raise ConfigError(f"ResNet depth must be one of {sorted(SPECS)}, got {depth}")
        if output_stride not in _STRIDES:
            raise ConfigError(f"ResNet output stride must be one of {sorted(_STRIDES)}, got {output_stride}")
        if last_layer not in (3, 4):
            raise ConfigError(f"last_layer must be 3 or 4, got {last_layer}")
        block, counts = SPECS[depth]
        strides, dilations = _STRIDES[output_stride]
        grid = tuple(multi_grid) if multi_grid else (1,) * counts[3]
        if len(grid) != counts[3]:
            raise ConfigError(f"multi_grid needs {counts[3]} factors (one per layer4 block), got {grid}")
        self.depth, self.deep_stem, self.last_layer = depth, deep_stem, last_layer

        if deep_stem:
            stem_ch = 128
            self.conv1 = nn.Sequential(
                nn.Conv2d(in_channels, 64, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                nn.Conv2d(64, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                nn.Conv2d(64, stem_ch, 3, padding=1, bias=False))
        else:
            stem_ch = 64
            self.conv1 = nn.Conv2d(in_channels, stem_ch, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem_ch)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)

        self._inplanes = stem_ch
        self.channels = [stem_ch]
        for i in range(last_layer):
            factors = grid if i == 3 else (1,) * counts[i]
            layer = self._make_layer(block, 64 * 2 ** i, strides[i], [dilations[i] * f for f in factors])
            setattr(self, f"layer{i + 1}", layer)
            self.channels.append(64 * 2 ** i * block.expansion)

    def _make_layer(self, block, planes, stride, block_dilations):
        downsample = None
        if stride != 1 or self._inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self._inplanes, planes * block.expansion, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion))
        blocks = [block(self._inplanes, planes, stride, block_dilations[0], downsample)]
        self._inplanes = planes * block.expansion
        blocks += [block(self._inplanes, planes, dilation=d) for d in block_dilations[1:]]
        return nn.Sequential(*blocks)

    @property
    def unused_weight_prefixes(self):
        """Prefixes of an ImageNet ``state_dict`` that this encoder does not hold (the classifier, an
        unbuilt ``layer4``); weight loading drops them instead of calling them unexpected."""
        return ("fc.",) + (("layer4.",) if self.last_layer == 3 else ())

    def describe(self):
        stem = "deep stem" if self.deep_stem else "standard stem"
        upto = "" if self.last_layer == 4 else ", layer1..layer3 only"
        return f"ResNet-{self.depth} encoder ({stem}{upto})"

    def execute(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        features = [x]
        x = self.maxpool(x)
        for i in range(1, self.last_layer + 1):
            x = getattr(self, f"layer{i}")(x)
            features.append(x)
        return features


def resnet(depth, in_channels=3, weights=None, deep_stem=False, **kw):
    """Build a :class:`ResNet`; with ``weights`` (a converted ``.pkl`` or a torchvision ``.pth``), load them
    strictly into it.

    The stem follows the weights file when one is given (a file with ``conv1.0.weight`` has the deep stem,
    one with ``conv1.weight`` the standard stem), so ImageNet weights from torchvision start even the
    deep-stem networks; otherwise ``deep_stem`` decides.
    """
    state = None
    if weights:
        state = read_weights(weights)
        if "conv1.0.weight" in state or "conv1.weight" in state:
            deep_stem = "conv1.0.weight" in state
    net = ResNet(depth, in_channels=in_channels, deep_stem=deep_stem, **kw)
    if state is not None:
        load_backbone_state(net, state, weights)
    return net


def _register_plain(depth):
    def build(in_channels=3, weights=None, **kw):
        return resnet(depth, in_channels, weights, **kw)
    build.__doc__ = f"ResNet-{depth} (torchvision layout; the deep stem when the weights have one)"
    register_encoder(f"resnet{depth}", imagenet=f"resnet{depth}")(build)


for _depth in sorted(SPECS):
    _register_plain(_depth)


@register_encoder("dilated_resnet101", imagenet="resnet101")
def dilated_resnet101(in_channels=3, weights=None, output_stride=16, last_layer=4):
    """The original's backbone for DeepLabV3+/PSPNet/DANet/OCNet/OCRNet/ResUNet: ResNet-101 with the deep
    stem, output stride 16 (``layer4`` dilated) and multi-grid (1, 2, 4) in ``layer4``."""
    return resnet(101, in_channels, weights, deep_stem=True, output_stride=output_stride,
                  multi_grid=(1, 2, 4), last_layer=last_layer)


class DilatedResNetWithHead(nn.Module):
    """``backbone`` (:func:`dilated_resnet101`) -> ``head`` on ``layer4`` -> logits resized bilinearly to the
    input: the skeleton of DANet and OCNet. ``head_cls(in_ch, n_classes)`` builds the head."""

    def __init__(self, head_cls, in_channels=3, n_classes=2, output_stride=16, backbone_weights=None):
        super().__init__()
        self.backbone = dilated_resnet101(in_channels, backbone_weights, output_stride)
        self.head = head_cls(self.backbone.channels[-1], n_classes)

    def execute(self, x):
        return upsample_like(self.head(self.backbone(x)[-1]), x)
