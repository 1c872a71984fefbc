"""EANet (Guo et al., "Beyond Self-attention: External Attention using Two Linear Layers for Visual Tasks", 2021)
on the original library's GroupNorm ResNet-101.

Backbone: a ResNet-101 whose normalisations are all GroupNorm (:func:`model.blocks.group_norm`), with a deep
stem (conv3 s2 -> 64, conv3 -> 64, conv3 -> 128, each normalised and ReLU'd) and a 2x2 max pooling, output
stride 16 (layer3 strided, layer4 dilated with the multi-grid ``[1, 2, 4]`` x 2 on its 2nd and 3rd blocks, the
1st block undilated as in the original). Head: conv3 2048 -> 512 (GN, ReLU), external attention, a stride-2
3x3 transposed conv to 256 (GN, ReLU) with dropout 0.1, a 2x2 stride-2 transposed conv to the logits at 1/4,
and a bilinear resize to the input size. The bottlenecks are the shared ResNet's with GroupNorm; the stem,
pooling and dilations differ from :mod:`model.backbone.resnet`, so the backbone is built here.

Parameters: 53,835,714 at n_classes=2; the original's comment states 53,242,818 (1.1% fewer). Its code, read
as written, gives our count; we found no variant of it that gives the stated one.
"""
from jittor import nn

from .registry import register_model
from .backbone.resnet import Bottleneck
from .blocks import ExternalAttention, group_norm, upsample_like


def _conv_gn_relu(in_ch, out_ch, stride=1):
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False), group_norm(out_ch),
                         nn.ReLU())


class GNBottleneck(Bottleneck):
    """The shared ResNet :class:`~model.backbone.resnet.Bottleneck` with GroupNorm in place of its BatchNorms."""

    def __init__(self, inplanes, planes, stride=1, dilation=1, downsample=None):
        super().__init__(inplanes, planes, stride, dilation, downsample)
        self.bn1, self.bn2, self.bn3 = group_norm(planes), group_norm(planes), group_norm(planes * 4)


class GNResNet101(nn.Module):
    """The original EANet backbone: deep stem + GN, 2x2 max pool, ``layer1..layer4`` of 3/4/23/3 GN bottlenecks,
    output stride 16, ``layer4`` dilations ``(1, 4, 8)``. Returns the 2048-channel ``layer4`` map at 1/16."""

    LAYERS = (3, 4, 23, 3)

    def __init__(self, in_channels=3):
        super().__init__()
        self.conv1 = nn.Sequential(_conv_gn_relu(in_channels, 64, stride=2), _conv_gn_relu(64, 64),
                                   nn.Conv2d(64, 128, 3, padding=1, bias=False))
        self.bn1 = group_norm(128)
        self.maxpool = nn.MaxPool2d(2, stride=2)
        self._inplanes = 128
        self.layer1 = self._make_layer(64, 1, (1,) * self.LAYERS[0])
        self.layer2 = self._make_layer(128, 2, (1,) * self.LAYERS[1])
        self.layer3 = self._make_layer(256, 2, (1,) * self.LAYERS[2])
        # Multi-grid (1, 2, 4) x dilation 2, but the original leaves the first block undilated.
        self.layer4 = self._make_layer(512, 1, (1, 4, 8))

    def _make_layer(self, planes, stride, dilations):
        """One bottleneck per entry of ``dilations``; the first has the stride and the projection shortcut."""
        out_ch = planes * 4
        downsample = None
        if stride != 1 or self._inplanes != out_ch:
            downsample = nn.Sequential(nn.Conv2d(self._inplanes, out_ch, 1, stride=stride, bias=False),
                                       group_norm(out_ch))
        blocks = [GNBottleneck(self._inplanes, planes, stride, dilations[0], downsample)]
        blocks += [GNBottleneck(out_ch, planes, dilation=d) for d in dilations[1:]]
        self._inplanes = out_ch
        return nn.Sequential(*blocks)

    def execute(self, x):
        x = self.maxpool(nn.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class EANet(nn.Module):
    """``backbone`` -> ``fc0`` (conv3 2048 -> 512, GN, ReLU) -> ``head`` (external attention) -> ``fc1``
    (transposed conv3 s2 -> 256, GN, ReLU, dropout 0.1) -> ``fc2`` (transposed conv2 s2 -> logits) -> resize."""

    def __init__(self, in_channels=3, n_classes=2):
        super().__init__()
        self.backbone = GNResNet101(in_channels)
        self.fc0 = _conv_gn_relu(2048, 512)
        self.head = ExternalAttention(512)
        self.fc1 = nn.Sequential(
            nn.ConvTranspose2d(512, 256, 3, stride=2, padding=1, output_padding=1, bias=False), group_norm(256),
            nn.ReLU(), nn.Dropout(0.1))
        self.fc2 = nn.ConvTranspose2d(256, n_classes, 2, stride=2)

    def execute(self, x):
        out = self.fc2(self.fc1(self.head(self.fc0(self.backbone(x)))))
        return upsample_like(out, x)


@register_model("eanet", divisor=16, reference_params=53_242_818)
def eanet(in_channels=3, n_classes=2, **kw):
    """EANet: GroupNorm ResNet-101 (OS16) with an external-attention head, logits at 1/4 upsampled."""
    return EANet(in_channels, n_classes, **kw)
