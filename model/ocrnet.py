"""OCRNet (Yuan et al., ECCV 2020, "Object-Contextual Representations for Semantic Segmentation") on the
original's dilated ResNet-101.

The original's simplified OCR head: ``get_context`` (conv3-BN-ReLU 1024 -> 512, dropout 0.05, 1x1 to the
classes) turns ``layer3`` into soft object regions; ``conv_3x3`` (conv3-BN-ReLU 2048 -> 512) gives the pixel
features from ``layer4``. ``OCRHead`` softmaxes each region over the pixels, pools one 512-d representation
per region, relates every pixel to every region, and sums the region representations with those weights;
the result passes ``conv_1x1`` (weights initialised to zero), is concatenated with the pixel features and
``last_conv`` (conv3) gives the logits, resized bilinearly to the input.

Differences from the original:

* The pixel-region relation is normalised over the regions (a softmax over the classes for every pixel), as
  in the paper. The original normalised it over the pixels, so every pixel's context was scaled by about
  ``1 / (H W)`` of the feature map (1/1024 at 512 x 512) and the object context all but vanished.
* ``execute(x, with_context=True)`` also returns the soft-region logits (resized to the input), so that a
  training loop can add the auxiliary region loss (the original's unused ``get_loss`` weighted it 0.1).
  Our ``run.py`` trains on the main logits only, as the original did.

Because ``conv_1x1`` starts at zero, the region branch (``get_context``) gets no gradient at the first step
unless the auxiliary loss is used.
"""
import jittor as jt
from jittor import nn

from .registry import register_model
from .backbone.resnet import dilated_resnet101
from .blocks import ConvBNReLU, upsample_like


class OCRHead(nn.Module):
    """Object-contextual representation of every pixel, concatenated with its features, to class logits."""

    def __init__(self, ch, n_classes):
        super().__init__()
        self.conv_1x1 = nn.Conv2d(ch, ch, 1)
        nn.init.constant_(self.conv_1x1.weight, 0.0)
        self.last_conv = nn.Conv2d(2 * ch, n_classes, 3, padding=1)

    def execute(self, context, feature):
        b, c, h, w = feature.shape
        pixels = feature.reshape(b, c, h * w).transpose(0, 2, 1)                   # b x hw x c
        regions = nn.softmax(context.reshape(b, context.shape[1], h * w), dim=2)   # b x k x hw, over pixels
        region_repr = nn.bmm(regions, pixels)                                      # b x k x c
        relation = nn.softmax(nn.bmm(pixels, region_repr.transpose(0, 2, 1)), dim=2)  # b x hw x k, over regions
        ocr = nn.bmm(relation, region_repr).transpose(0, 2, 1).reshape(b, c, h, w)
        return self.last_conv(jt.concat([self.conv_1x1(ocr), feature], dim=1))


class OCRNet(nn.Module):
    """``backbone`` -> soft regions from ``layer3`` (``get_context``), pixel features from ``layer4``
    (``conv_3x3``) -> ``head`` -> bilinear resize."""

    def __init__(self, in_channels=3, n_classes=2, output_stride=16, backbone_weights=None):
        super().__init__()
        self.backbone = dilated_resnet101(in_channels, backbone_weights, output_stride)
        c3, c4 = self.backbone.channels[-2:]
        # Both convolutions keep their bias before BatchNorm, as in the original.
        self.get_context = nn.Sequential(ConvBNReLU(c3, 512), nn.Dropout(0.05), nn.Conv2d(512, n_classes, 1))
        self.conv_3x3 = ConvBNReLU(c4, 512)
        self.head = OCRHead(512, n_classes)

    def execute(self, x, with_context=False):
        features = self.backbone(x)
        context = self.get_context(features[-2])
        out = upsample_like(self.head(context, self.conv_3x3(features[-1])), x)
        return (out, upsample_like(context, x)) if with_context else out


# conv_1x1 starts at zero (as in the original), so at the first step the region branch gets no gradient.
@register_model("ocrnet", divisor=16, min_size=32, encoder="dilated_resnet101", test_size=128,
                no_grad=(r"^get_context\.",))
def ocrnet(in_channels=3, n_classes=2, output_stride=16, backbone_weights=None):
    """OCRNet on a dilated ResNet-101 (OS16): soft object regions from layer3, object-contextual head on layer4."""
    return OCRNet(in_channels, n_classes, output_stride, backbone_weights)
