"""TernausNet (Iglovikov & Shvets, 2018, "TernausNet: U-Net with VGG11 Encoder Pre-Trained on ImageNet"), UNet16.

The original's ``UNet16(num_filters=32, is_deconv=False)`` (``ternaus``): the VGG-16 encoder without
BatchNorm (five stages 64/128/256/512/512, trained from scratch as in the original), a centre block on the
max-pooled last stage, and ``DecoderBlockV2`` decoders, each bilinear x2 upsampling followed by two conv3-ReLU
(no BatchNorm), taking the concatenation ``[decoded, skip]``; ``dec1`` is one conv3-ReLU at full resolution
and ``final`` a 1x1 classifier. ``is_deconv=True`` gives the paper's transposed-convolution decoder instead.
ImageNet VGG-16 weights (``backbone_weights``) make it the TernausNet of the paper.
"""
import jittor as jt
from jittor import nn

from .blocks import ConvBNReLU
from .registry import register_model
from .backbone.vgg import vgg16


def conv_relu(in_ch, out_ch):
    """conv3 (with bias) -> ReLU, no normalisation (TernausNet's ConvRelu)."""
    return ConvBNReLU(in_ch, out_ch, 3, norm=None)


class DecoderBlockV2(nn.Sequential):
    """x2 upsampling to ``out_ch``: bilinear then ConvRelu(in, mid), ConvRelu(mid, out); or, with
    ``is_deconv``, ConvRelu(in, mid) then a 4x4 stride-2 transposed conv to ``out_ch`` and ReLU."""

    def __init__(self, in_ch, mid_ch, out_ch, is_deconv=False):
        if is_deconv:
            super().__init__(conv_relu(in_ch, mid_ch), nn.ConvTranspose2d(mid_ch, out_ch, 4, stride=2, padding=1),
                             nn.ReLU())
        else:
            super().__init__(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                             conv_relu(in_ch, mid_ch), conv_relu(mid_ch, out_ch))


class UNet16(nn.Module):
    """``encoder`` (VGG-16) -> ``center`` -> ``dec5..dec2`` (DecoderBlockV2) -> ``dec1`` -> ``final``."""

    def __init__(self, in_channels=3, n_classes=2, num_filters=32, is_deconv=False, backbone_weights=None):
        super().__init__()
        nf = num_filters
        self.encoder = vgg16(in_channels, batch_norm=False, weights=backbone_weights)
        self.pool = nn.MaxPool2d(2, stride=2)
        c1, c2, c3, c4, c5 = self.encoder.channels  # 64, 128, 256, 512, 512
        self.center = DecoderBlockV2(c5, nf * 8 * 2, nf * 8, is_deconv)
        self.dec5 = DecoderBlockV2(c5 + nf * 8, nf * 8 * 2, nf * 8, is_deconv)
        self.dec4 = DecoderBlockV2(c4 + nf * 8, nf * 8 * 2, nf * 8, is_deconv)
        self.dec3 = DecoderBlockV2(c3 + nf * 8, nf * 4 * 2, nf * 2, is_deconv)
        self.dec2 = DecoderBlockV2(c2 + nf * 2, nf * 2 * 2, nf, is_deconv)
        self.dec1 = conv_relu(c1 + nf, nf)
        self.final = nn.Conv2d(nf, n_classes, 1)

    def execute(self, x):
        conv1, conv2, conv3, conv4, conv5 = self.encoder(x)
        d = self.center(self.pool(conv5))
        d = self.dec5(jt.concat([d, conv5], dim=1))
        d = self.dec4(jt.concat([d, conv4], dim=1))
        d = self.dec3(jt.concat([d, conv3], dim=1))
        d = self.dec2(jt.concat([d, conv2], dim=1))
        return self.final(self.dec1(jt.concat([d, conv1], dim=1)))


# min_size 64: Jittor's max pooling wants a map larger than its kernel, so the pooling before the centre
# block needs the 1/16 map at least 4 x 4.
@register_model("ternaus", divisor=32, min_size=64, encoder="vgg16")
def ternaus(in_channels=3, n_classes=2, num_filters=32, is_deconv=False, backbone_weights=None):
    """TernausNet UNet16: VGG-16 encoder, bilinear DecoderBlockV2 decoders (num_filters 32)."""
    return UNet16(in_channels, n_classes, num_filters, is_deconv, backbone_weights)
