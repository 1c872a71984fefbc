"""SegNet (Badrinarayanan et al., TPAMI 2017, "SegNet: A Deep Convolutional Encoder-Decoder Architecture").

The original's ``SegNet(3, 2)`` (``segnet``): the VGG-16-BN encoder (13 conv3-BN-ReLU, with bias), whose five
2x2 max pools keep their argmax indices; the mirrored decoder unpools with those indices (``MaxUnpool2d``:
the other positions stay zero) and applies 13 more convolutions, all conv3-BN-ReLU except the last, a plain
conv3 to the class logits. The encoder has torchvision's ``vgg16_bn`` layout, so ImageNet weights
(``backbone_weights``) can start it, as in the paper.
"""
from jittor import nn

from .registry import register_model
from .backbone.vgg import vgg16
from .blocks import ConvBNReLU


def _stage(*widths):
    """conv3-BN-ReLU layers through the given widths (first entry = input channels)."""
    return nn.Sequential(*[ConvBNReLU(a, b) for a, b in zip(widths[:-1], widths[1:])])


class SegNet(nn.Module):
    """``encoder`` (VGG-16-BN, pooling with indices) -> ``dec5..dec1`` (unpooling) -> ``final``."""

    def __init__(self, in_channels=3, n_classes=2, backbone_weights=None):
        super().__init__()
        self.encoder = vgg16(in_channels, batch_norm=True, weights=backbone_weights)
        self.pool = nn.MaxPool2d(2, stride=2, return_indices=True)
        self.unpool = nn.MaxUnpool2d(2, stride=2)
        self.dec5 = _stage(512, 512, 512, 512)
        self.dec4 = _stage(512, 512, 512, 256)
        self.dec3 = _stage(256, 256, 256, 128)
        self.dec2 = _stage(128, 128, 64)
        self.dec1 = _stage(64, 64)
        self.final = nn.Conv2d(64, n_classes, 3, padding=1)

    def execute(self, x):
        shapes, indices = [], []
        for i in range(5):
            x = self.encoder.stage(i, x)
            shapes.append(x.shape)
            x, idx = self.pool(x)
            indices.append(idx)
        for dec, shape, idx in zip((self.dec5, self.dec4, self.dec3, self.dec2, self.dec1),
                                   reversed(shapes), reversed(indices)):
            x = dec(self.unpool(x, idx, output_size=shape))
        return self.final(x)


# min_size 64: Jittor's max pooling wants a map larger than its kernel, so the last 2x2 pooling needs the 1/16
# map at least 4 x 4.
@register_model("segnet", divisor=32, min_size=64, encoder="vgg16_bn")
def segnet(in_channels=3, n_classes=2, backbone_weights=None):
    """SegNet: VGG-16-BN encoder, decoder unpooling with the encoder's max-pool indices."""
    return SegNet(in_channels, n_classes, backbone_weights)
