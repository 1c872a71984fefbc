"""DeepLabV3+ (Chen et al., ECCV 2018, "Encoder-Decoder with Atrous Separable Convolution") on a dilated ResNet-101.

The original's ``deeplab`` (``model/DeepLabv3plus2.py``; its README calls it "DeepLab V2"): the deep-stem
ResNet-101 of :func:`model.backbone.resnet.dilated_resnet101` (output stride 16, multi-grid 1/2/4), an ASPP on
``layer4`` (1x1 and three 3x3 atrous branches at rates 6/12/18, or 12/24/36 at OS8, plus image pooling; 256
channels each, concatenated to 1280, projected to 256, dropout 0.5), and a decoder that projects ``layer1``
(256 channels, 1/4) to 48 channels, concatenates it with the upsampled ASPP output (304 channels), and applies
two 3x3 conv-BN-ReLU layers (dropout 0.5 and 0.1) and a 1x1 classifier; the logits are resized bilinearly to
the input. The ASPP submodule is named ``aspp`` so that ``run_ssl.py --layer aspp`` hooks it.

Differences from the original: the deep stem ends with BatchNorm + ReLU (see the backbone); ImageNet weights
can start the encoder (``backbone_weights``), which the original could not load.
"""
import jittor as jt
from jittor import nn

from utils.errors import ConfigError
from .registry import SSLSpec, register_model
from .backbone.resnet import dilated_resnet101
from .blocks import ConvBNReLU, upsample_like


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: ``aspp1`` (1x1), ``aspp2..4`` (3x3 at ``rates``), ``global_avg_pool``
    (image-level mean -> 1x1 conv -> BN -> ReLU, broadcast back), concatenated and projected to ``out_ch``."""

    def __init__(self, in_ch=2048, out_ch=256, rates=(6, 12, 18)):
        super().__init__()
        self.aspp1 = ConvBNReLU(in_ch, out_ch, 1, bias=False)
        self.aspp2 = ConvBNReLU(in_ch, out_ch, 3, dilation=rates[0], bias=False)
        self.aspp3 = ConvBNReLU(in_ch, out_ch, 3, dilation=rates[1], bias=False)
        self.aspp4 = ConvBNReLU(in_ch, out_ch, 3, dilation=rates[2], bias=False)
        self.global_avg_pool = ConvBNReLU(in_ch, out_ch, 1, bias=False)
        self.project = nn.Sequential(ConvBNReLU(5 * out_ch, out_ch, 1, bias=False), nn.Dropout(0.5))

    def execute(self, x):
        b, _, h, w = x.shape
        pooled = self.global_avg_pool(x.mean(dims=(2, 3), keepdims=True))
        pooled = pooled.broadcast((b, pooled.shape[1], h, w))
        return self.project(jt.concat([self.aspp1(x), self.aspp2(x), self.aspp3(x), self.aspp4(x), pooled], dim=1))


class Decoder(nn.Module):
    """Low-level projection (1x1 to 48, BN, ReLU), concatenation with the upsampled context, two 3x3
    conv-BN-ReLU layers with dropout 0.5/0.1, and a 1x1 classifier."""

    def __init__(self, n_classes, low_ch=256, ch=256, low_out=48):
        super().__init__()
        self.low_level = ConvBNReLU(low_ch, low_out, 1, bias=False)
        self.last_conv = nn.Sequential(
            ConvBNReLU(ch + low_out, ch, 3, bias=False), nn.Dropout(0.5),
            ConvBNReLU(ch, ch, 3, bias=False), nn.Dropout(0.1),
            nn.Conv2d(ch, n_classes, 1))

    def execute(self, x, low):
        low = self.low_level(low)
        return self.last_conv(jt.concat([upsample_like(x, low), low], dim=1))


ASPP_RATES = {16: (6, 12, 18), 8: (12, 24, 36)}  # output stride -> atrous rates


class DeepLabV3Plus(nn.Module):
    """``backbone`` (dilated ResNet-101) -> ``aspp`` -> ``decoder`` (with ``layer1``) -> bilinear resize."""

    def __init__(self, in_channels=3, n_classes=2, output_stride=16, backbone_weights=None):
        super().__init__()
        if output_stride not in ASPP_RATES:
            raise ConfigError(f"DeepLabV3+ takes output stride 16 or 8, got {output_stride}")
        self.backbone = dilated_resnet101(in_channels, backbone_weights, output_stride)
        self.aspp = ASPP(self.backbone.channels[-1], 256, ASPP_RATES[output_stride])
        self.decoder = Decoder(n_classes, low_ch=self.backbone.channels[1])

    def execute(self, x):
        features = self.backbone(x)
        out = self.decoder(self.aspp(features[-1]), features[1])
        return upsample_like(out, x)


@register_model("deeplab", divisor=16, min_size=32, encoder="dilated_resnet101",
                ssl=SSLSpec("aspp", 256, 5e-6), reference_params=59_572_610)
def deeplab(in_channels=3, n_classes=2, output_stride=16, backbone_weights=None):
    """DeepLabV3+ on a dilated ResNet-101 (OS16): ASPP (rates 6/12/18 + image pool), 48-channel low-level decoder."""
    return DeepLabV3Plus(in_channels, n_classes, output_stride, backbone_weights)
