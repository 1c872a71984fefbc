"""CE-Net (Gu et al., IEEE TMI 2019, "CE-Net: Context Encoder Network for 2D Medical Image Segmentation").

The original's ``CE_Net_`` (``cenet``): a ResNet-34 encoder (standard stem, trained from scratch as in the
original), the dense atrous convolution block ``dblock`` on ``layer4`` (512 channels, 1/32), the residual
multi-kernel pooling block ``spp`` (max pooling 2/3/5/6, a shared 1x1 conv to one channel each, bilinear
resize, concatenated with the input: 516 channels), four LinkNet decoders with additive skips and the LinkNet
head (4x4 transposed conv x2, two 3x3 convs) to the class logits at full resolution.

The pooling block needs the 1/32 map to be at least 6 x 6, hence inputs of at least 192 x 192 (the
original, with Jittor's pooling, which wants maps larger than the kernel, needed 224).
"""
import jittor as jt
from jittor import nn

from .registry import register_model
from .backbone.resnet import resnet
from .blocks import LinkNetBase, upsample_like


class DACBlock(nn.Module):
    """Dense atrous convolution: four cascaded branches (receptive fields 3, 7, 9, 19) of 3x3 convolutions
    dilated 1/3/5 and a shared 1x1 conv, each ReLU'd and added to the input. Conv biases start at zero."""

    def __init__(self, ch):
        super().__init__()
        self.dilate1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.dilate2 = nn.Conv2d(ch, ch, 3, padding=3, dilation=3)
        self.dilate3 = nn.Conv2d(ch, ch, 3, padding=5, dilation=5)
        self.conv1x1 = nn.Conv2d(ch, ch, 1)
        for conv in (self.dilate1, self.dilate2, self.dilate3, self.conv1x1):
            nn.init.constant_(conv.bias, 0.0)

    def execute(self, x):
        d1 = self.dilate1(x)
        d21 = self.dilate2(d1)
        b1 = nn.relu(d1)
        b2 = nn.relu(self.conv1x1(self.dilate2(x)))
        b3 = nn.relu(self.conv1x1(d21))
        b4 = nn.relu(self.conv1x1(self.dilate3(d21)))
        return x + b1 + b2 + b3 + b4


def max_pool_tiles(x, k):
    """k x k max pooling with stride k (the remainder rows/columns dropped, as ``MaxPool2d(k, k)``).

    Jittor's pooling refuses a map no larger than the kernel, so a 6 x 6 map could not be pooled by 6.
    """
    b, c, h, w = x.shape
    x = x[:, :, :h // k * k, :w // k * k]
    return x.reshape(b, c, h // k, k, w // k, k).reduce("maximum", [3, 5])


class SPPBlock(nn.Module):
    """Residual multi-kernel pooling: max pools of size (= stride) 2, 3, 5, 6, one shared 1x1 conv to a single
    channel, bilinear resize back, concatenated before the input (``in_ch + 4`` channels)."""

    SIZES = (2, 3, 5, 6)

    def __init__(self, in_ch):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, 1, 1)

    def execute(self, x):
        pooled = [upsample_like(self.conv(max_pool_tiles(x, k)), x) for k in self.SIZES]
        return jt.concat(pooled + [x], dim=1)


class CENet(LinkNetBase):
    """``encoder`` (ResNet-34) -> ``dblock`` -> ``spp`` -> ``decoder4..1`` (+ skips) -> ``head``."""

    def __init__(self, in_channels=3, n_classes=2, backbone_weights=None):
        super().__init__(resnet(34, in_channels, backbone_weights))
        c4 = self.encoder.channels[-1]  # 512
        self.dblock = DACBlock(c4)
        self.spp = SPPBlock(c4)
        self.build_decoders(c4 + len(SPPBlock.SIZES), n_classes)

    def centre(self, x):
        return self.spp(self.dblock(x))


@register_model("cenet", divisor=32, min_size=192, encoder="resnet34")
def cenet(in_channels=3, n_classes=2, backbone_weights=None):
    """CE-Net: ResNet-34 encoder, dense atrous convolution and multi-kernel pooling blocks, LinkNet decoders."""
    return CENet(in_channels, n_classes, backbone_weights)
