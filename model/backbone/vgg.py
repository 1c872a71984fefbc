"""VGG-16 encoder (Simonyan & Zisserman, 2015), plain or with BatchNorm, in torchvision's layout.

``features`` is the torchvision ``Sequential`` (``features.N``: conv3 with bias [-> BatchNorm] -> ReLU, and a
2x2 max pool after each of the five stages), so ImageNet ``vgg16``/``vgg16_bn`` weights map one to one
(``model/backbone/weights.py``); the classifier is absent. TernausNet (UNet16) uses the plain encoder, SegNet the
BatchNorm one with its own index-returning pooling.

``execute`` returns the five stage outputs before their pooling, largest first: 64 @ 1, 128 @ 1/2,
256 @ 1/4, 512 @ 1/8, 512 @ 1/16 (``channels``). ``stage(i, x)`` runs stage ``i``'s convolutions alone, for
networks that pool between stages themselves.
"""
from jittor import nn

from ..registry import register_encoder
from .weights import load_backbone_weights

_VGG16 = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))


class VGG16(nn.Module):
    """VGG-16 convolutional part; ``batch_norm=True`` gives torchvision's ``vgg16_bn`` layout."""

    def __init__(self, in_channels=3, batch_norm=False):
        super().__init__()
        self.batch_norm = batch_norm
        layers, self._stages = [], []
        ch = in_channels
        for widths in _VGG16:
            start = len(layers)
            for w in widths:
                layers.append(nn.Conv2d(ch, w, 3, padding=1))
                if batch_norm:
                    layers.append(nn.BatchNorm2d(w))
                layers.append(nn.ReLU())
                ch = w
            self._stages.append((start, len(layers)))
            layers.append(nn.MaxPool2d(2, stride=2))
        self.features = nn.Sequential(*layers)
        self.channels = [widths[-1] for widths in _VGG16]

    unused_weight_prefixes = ("classifier.",)

    def describe(self):
        return "VGG-16" + ("-BN" if self.batch_norm else "") + " encoder"

    def stage(self, i, x):
        """The convolutions of stage ``i`` (0..4), without the pooling that follows them."""
        start, end = self._stages[i]
        for layer in self.features[start:end]:
            x = layer(x)
        return x

    def execute(self, x):
        features = []
        for i, (start, _) in enumerate(self._stages):
            if i:
                x = self.features[start - 1](x)  # the max pool that ends the previous stage
            x = self.stage(i, x)
            features.append(x)
        return features


def vgg16(in_channels=3, batch_norm=False, weights=None):
    """Build a :class:`VGG16`; with ``weights`` (a converted ``.pkl`` or a torchvision ``.pth``), load them
    strictly into it."""
    net = VGG16(in_channels, batch_norm)
    if weights:
        load_backbone_weights(net, weights)
    return net


@register_encoder("vgg16", imagenet="vgg16")
def vgg16_plain(in_channels=3, weights=None):
    """VGG-16 (torchvision's ``vgg16`` layout)"""
    return vgg16(in_channels, False, weights)


@register_encoder("vgg16_bn", imagenet="vgg16_bn")
def vgg16_bn(in_channels=3, weights=None):
    """VGG-16 with BatchNorm (torchvision's ``vgg16_bn`` layout)"""
    return vgg16(in_channels, True, weights)
