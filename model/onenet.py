"""OneNet: a lightweight segmentation net of grouped convolutions with channel shifts (JMedSeg's own design).

The image is embedded by a 4x4 stride-4 convolution, widened by three :class:`ShiftGroupConv` layers and passed
through sixteen dilated 1024-channel ShiftGroupConv layers (:class:`ShiftGroupStack`); eight of their outputs are
concatenated and fused by a 1x1 convolution, then a 4x4 stride-4 transposed convolution returns to the input
resolution.  Normalisation is GroupNorm throughout, so the model does not depend on the batch size.
"""
import jittor as jt
from jittor import nn

from .registry import register_model
from .blocks import ShiftGroupConv, ShiftGroupStack


class OneNet(nn.Module):
    """embed (4x4/4 conv to 128) -> map (128 -> 256 -> 512 -> 1024) -> layers (16 dilated) -> fuse (8192 -> 256 -> x4).

    Submodule names follow the original (``embed, map, layers, fuse``).
    """

    def __init__(self, in_channels=3, n_classes=2):
        super().__init__()
        self.embed = nn.Conv2d(in_channels, 128, 4, stride=4)
        self.map = nn.Sequential(ShiftGroupConv(16, 32, 8), ShiftGroupConv(16, 32, 16), ShiftGroupConv(16, 32, 32))
        self.layers = ShiftGroupStack()
        picked = len(ShiftGroupStack.PICKED) * 1024
        self.fuse = nn.Sequential(
            nn.Conv2d(picked, 256, 1, bias=False),
            nn.GroupNorm(16, 256),
            nn.ReLU(),
            nn.Dropout(0.1),
            nn.ConvTranspose2d(256, n_classes, 4, stride=4),
        )

    def execute(self, x):
        return self.fuse(jt.concat(self.layers(self.map(self.embed(x))), dim=1))


@register_model("onenet", divisor=4, reference_params=4_765_826)
def onenet(in_channels=3, n_classes=2, **kw):
    """OneNet: grouped convolutions with channel shift, 16 dilated layers, output stride 4 (4.77 M parameters)."""
    return OneNet(in_channels, n_classes, **kw)
