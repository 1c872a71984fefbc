"""OCNet (Yuan & Wang, 2018, "OCNet: Object Context Network for Scene Parsing") on the original's dilated ResNet-101.

The original's simplified object-context head: ``conv_0`` (conv3-BN-ReLU, 2048 -> 512) on ``layer4``; the
object context module ``oc`` computes self-attention over the pixels (query/key at 256 channels, softmax over
the pixels, no key scaling), passes the context through ``scale_conv`` (1x1, weights initialised to zero)
and concatenates it with its input (1024 channels); ``conv_1`` (conv3-BN-ReLU to 512) and ``conv_2``
(dropout 0.1, 1x1) give the logits, resized bilinearly to the input.

Because ``scale_conv`` starts at zero (as in the original), the attention projections get no gradient at the
first step.
"""
import jittor as jt
from jittor import nn

from .registry import register_model
from .backbone.resnet import DilatedResNetWithHead
from .blocks import ConvBNReLU, PixelSelfAttention


class ObjectContext(PixelSelfAttention):
    """``concat([scale_conv(value . softmax(query^T key)^T), x])``: the object context of every pixel."""

    def __init__(self, ch):
        super().__init__(ch, reduction=2)
        self.scale_conv = nn.Conv2d(ch, ch, 1)
        nn.init.constant_(self.scale_conv.weight, 0.0)

    def execute(self, x):
        return jt.concat([self.scale_conv(self.attend(x)), x], dim=1)


class OCHead(nn.Module):
    def __init__(self, in_ch, n_classes):
        super().__init__()
        inter = in_ch // 4
        self.conv_0 = ConvBNReLU(in_ch, inter, 3, bias=False)
        self.oc = ObjectContext(inter)
        self.conv_1 = ConvBNReLU(2 * inter, inter, 3, bias=False)
        self.conv_2 = nn.Sequential(nn.Dropout(0.1), nn.Conv2d(inter, n_classes, 1))

    def execute(self, x):
        return self.conv_2(self.conv_1(self.oc(self.conv_0(x))))


# scale_conv starts at zero (as in the original), so at the first step the attention projections get none.
@register_model("ocnet", divisor=16, min_size=32, encoder="dilated_resnet101", test_size=128,
                no_grad=(r"^head\.oc\.(query|key|value)_conv\.",))
def ocnet(in_channels=3, n_classes=2, output_stride=16, backbone_weights=None):
    """OCNet on a dilated ResNet-101 (OS16): a pixel self-attention object-context head."""
    return DilatedResNetWithHead(OCHead, in_channels, n_classes, output_stride, backbone_weights)
