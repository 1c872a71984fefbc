"""PSPNet (Zhao et al., CVPR 2017, "Pyramid Scene Parsing Network") on the original's dilated ResNet-101.

The pyramid pooling module averages ``layer4`` (2048 channels, 1/16) into 1x1, 2x2, 3x3 and 6x6 bins
(``layer5a..layer5d``), reduces each to 512 channels (1x1 conv, BN, ReLU), resizes them bilinearly back and
concatenates them with the input (4096 channels); ``final_conv`` is conv3 to 512, BN, ReLU, dropout 0.3 and a
1x1 classifier; the logits are resized bilinearly to the input.

Difference from the original: the bins follow PyTorch's adaptive average pooling (bin ``i`` of ``s`` over
``n`` pixels spans ``floor(i n / s) .. ceil((i + 1) n / s)``), computed as two small averaging matrices. It is
also defined when the map is smaller than the bin count (a 64 x 64 input gives a 4 x 4 map), where Jittor's
``AdaptiveAvgPool2d``, which the original used, divides by zero; at 512 x 512 the bins differ from Jittor's
by a pixel at most.
"""
import numpy as np

import jittor as jt
from jittor import nn

from .registry import register_model
from .backbone.resnet import dilated_resnet101
from .blocks import ConvBNReLU, upsample_like


def _bin_matrix(n, bins):
    """``bins x n`` matrix whose row ``i`` averages the pixels of adaptive-pooling bin ``i``."""
    m = np.zeros((bins, n), dtype=np.float32)
    for i in range(bins):
        start, end = (i * n) // bins, -(-(i + 1) * n // bins)
        m[i, start:end] = 1.0 / (end - start)
    return m


def adaptive_avg_pool2d(x, bins):
    """Adaptive average pooling to ``bins x bins`` with PyTorch's bin boundaries, for any input size."""
    b, c, h, w = x.shape
    rows = jt.array(_bin_matrix(h, bins))            # bins x h
    cols = jt.array(_bin_matrix(w, bins).T)          # w x bins
    out = jt.matmul(rows, x.reshape(b * c, h, w))    # (b c) x bins x w
    return jt.matmul(out, cols).reshape(b, c, bins, bins)


class PyramidPool(nn.Module):
    """Average into ``bins x bins`` -> 1x1 conv (no bias) -> BN -> ReLU -> bilinear resize to the input."""

    def __init__(self, in_ch, out_ch, bins):
        super().__init__()
        self.bins = bins
        self.conv = ConvBNReLU(in_ch, out_ch, 1, bias=False)

    def execute(self, x):
        return upsample_like(self.conv(adaptive_avg_pool2d(x, self.bins)), x)


class PSPNet(nn.Module):
    """``backbone`` -> pyramid pooling ``layer5a..layer5d`` (bins 1/2/3/6) -> ``final_conv`` -> resize."""

    def __init__(self, in_channels=3, n_classes=2, output_stride=16, backbone_weights=None):
        super().__init__()
        self.backbone = dilated_resnet101(in_channels, backbone_weights, output_stride)
        ch = self.backbone.channels[-1]
        self.layer5a = PyramidPool(ch, 512, 1)
        self.layer5b = PyramidPool(ch, 512, 2)
        self.layer5c = PyramidPool(ch, 512, 3)
        self.layer5d = PyramidPool(ch, 512, 6)
        self.final_conv = nn.Sequential(
            ConvBNReLU(ch + 4 * 512, 512, 3, bias=False), nn.Dropout(0.3), nn.Conv2d(512, n_classes, 1))

    def execute(self, x):
        f = self.backbone(x)[-1]
        out = self.final_conv(jt.concat(
            [f, self.layer5a(f), self.layer5b(f), self.layer5c(f), self.layer5d(f)], dim=1))
        return upsample_like(out, x)


@register_model("pspnet", divisor=16, min_size=32, encoder="dilated_resnet101", test_size=128)
def pspnet(in_channels=3, n_classes=2, output_stride=16, backbone_weights=None):
    """PSPNet on a dilated ResNet-101 (OS16): pyramid pooling over 1/2/3/6 bins."""
    return PSPNet(in_channels, n_classes, output_stride, backbone_weights)
