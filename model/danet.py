"""DANet (Fu et al., CVPR 2019, "Dual Attention Network for Scene Segmentation") on the original's dilated ResNet-101.

``DANetHead`` reduces ``layer4`` (2048 channels, 1/16) to 512 channels twice (conv3-BN-ReLU ``conv5a`` and
``conv5c``); the position attention module ``sa`` (query/key at 512/8 channels, softmax over the pixels) and
the channel attention module ``sc`` (softmax over the channels of the Gram matrix) each add their output,
scaled by a learnt ``gamma`` that starts at 0, to their input; each goes through a conv3-BN-ReLU
(``conv51``/``conv52``), the two are summed, and ``conv8`` (dropout 0.1, 1x1) gives the logits, resized
bilinearly to the input.

As in the original, the channel attention applies the softmax to the energy itself (the paper's code uses
``max - energy``). With ``gamma`` at 0, the position-attention projections get no gradient at the first step.
"""
import jittor as jt
from jittor import nn

from .registry import register_model
from .backbone.resnet import DilatedResNetWithHead
from .blocks import ChannelSelfAttention, ConvBNReLU, PixelSelfAttention


class PositionAttention(PixelSelfAttention):
    """``x + gamma * (value . softmax(query^T key)^T)`` over the pixels (SAGAN-style self-attention)."""

    def __init__(self, ch):
        super().__init__(ch, reduction=8)
        self.gamma = jt.zeros(1)

    def execute(self, x):
        return self.gamma * self.attend(x) + x


class DANetHead(nn.Module):
    def __init__(self, in_ch, n_classes):
        super().__init__()
        inter = in_ch // 4
        self.conv5a = ConvBNReLU(in_ch, inter, 3, bias=False)
        self.conv5c = ConvBNReLU(in_ch, inter, 3, bias=False)
        self.sa = PositionAttention(inter)
        self.sc = ChannelSelfAttention()
        self.conv51 = ConvBNReLU(inter, inter, 3, bias=False)
        self.conv52 = ConvBNReLU(inter, inter, 3, bias=False)
        self.conv8 = nn.Sequential(nn.Dropout(0.1), nn.Conv2d(inter, n_classes, 1))

    def execute(self, x):
        sa = self.conv51(self.sa(self.conv5a(x)))
        sc = self.conv52(self.sc(self.conv5c(x)))
        return self.conv8(sa + sc)


# gamma starts at 0 (as in the original), so at the first step the position-attention projections get none.
@register_model("danet", divisor=16, min_size=32, encoder="dilated_resnet101", test_size=128,
                no_grad=(r"^head\.sa\.(query|key|value)_conv\.",))
def danet(in_channels=3, n_classes=2, output_stride=16, backbone_weights=None):
    """DANet on a dilated ResNet-101 (OS16): position and channel self-attention heads, summed."""
    return DilatedResNetWithHead(DANetHead, in_channels, n_classes, output_stride, backbone_weights)
