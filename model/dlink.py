"""D-LinkNet (Zhou et al., CVPR-W 2018, "D-LinkNet: LinkNet with Pretrained Encoder and Dilated Convolution").

The original's ``DinkNet50`` (``dlink``): a ResNet-50 encoder (standard stem), the dilated centre block
``dblock`` on ``layer4`` (2048 channels, 1/32: five cascaded 3x3 convolutions dilated 1/2/4/8/16, each ReLU'd,
all added to the input; conv biases start at zero), four LinkNet decoders with additive skips and the LinkNet
head to the class logits at full resolution. The centre block alone holds 189 M of the 217 M parameters, as
in the original.

Differences from the original:

* It returns logits. The original applied ``jt.sigmoid`` to its two-channel output and fed that to softmax
  cross-entropy, which bounds the logits to (0, 1); it predicted all background on pancreas (Dice 0.4995).
* Nothing is downloaded: the original took ImageNet weights from the Jittor hub at every construction; here
  the encoder starts from scratch unless ``backbone_weights`` (torchvision ResNet-50 weights) are given.
"""
from jittor import nn

from .registry import register_model
from .backbone.resnet import resnet
from .blocks import LinkNetBase


class DilatedCenter(nn.Module):
    """``Dblock_more_dilate``: ``x + sum_i relu(conv_i(...relu(conv_1(x))))`` for dilations 1, 2, 4, 8, 16."""

    DILATIONS = (1, 2, 4, 8, 16)

    def __init__(self, ch):
        super().__init__()
        for i, d in enumerate(self.DILATIONS, 1):
            conv = nn.Conv2d(ch, ch, 3, padding=d, dilation=d)
            nn.init.constant_(conv.bias, 0.0)
            setattr(self, f"dilate{i}", conv)

    def execute(self, x):
        out, y = x, x
        for i in range(1, len(self.DILATIONS) + 1):
            y = nn.relu(getattr(self, f"dilate{i}")(y))
            out = out + y
        return out


class DLinkNet(LinkNetBase):
    """``encoder`` (ResNet-50) -> ``dblock`` -> ``decoder4..1`` (+ skips) -> ``head``."""

    def __init__(self, in_channels=3, n_classes=2, backbone_weights=None):
        super().__init__(resnet(50, in_channels, backbone_weights))
        c4 = self.encoder.channels[-1]  # 2048
        self.dblock = DilatedCenter(c4)
        self.build_decoders(c4, n_classes)

    def centre(self, x):
        return self.dblock(x)


@register_model("dlink", divisor=32, encoder="resnet50")
def dlink(in_channels=3, n_classes=2, backbone_weights=None):
    """D-LinkNet: ResNet-50 encoder, a dilated centre block (dilations 1-16) and LinkNet decoders."""
    return DLinkNet(in_channels, n_classes, backbone_weights)
