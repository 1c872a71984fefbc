"""UNet (Ronneberger et al., 2015) in the variant of the original library: bilinear upsampling, BatchNorm."""
from jittor import nn

from .registry import SSLSpec, register_model
from .blocks import DoubleConv, Down, OutConv, Up


class UNet(nn.Module):
    """Encoder 64-128-256-512-512 (the bottleneck is halved when ``bilinear``), four ``Up`` blocks, 1x1 head.

    Submodules are named ``inc, down1..down4, up1..up4, outc`` as in the original, so that
    ``run_ssl.py --layer down4`` hooks the bottleneck (512 channels at 1/16 resolution).
    """

    def __init__(self, in_channels=3, n_classes=2, bilinear=True, base=64):
        super().__init__()
        f = 2 if bilinear else 1
        c1, c2, c3, c4, c5 = base, base * 2, base * 4, base * 8, base * 16
        self.inc = DoubleConv(in_channels, c1)
        self.down1 = Down(c1, c2)
        self.down2 = Down(c2, c3)
        self.down3 = Down(c3, c4)
        self.down4 = Down(c4, c5 // f)
        self.up1 = Up(c5, c4 // f, bilinear)
        self.up2 = Up(c4, c3 // f, bilinear)
        self.up3 = Up(c3, c2 // f, bilinear)
        self.up4 = Up(c2, c1, bilinear)
        self.outc = OutConv(c1, n_classes)

    def execute(self, x):
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x4 = self.down3(x3)
        x5 = self.down4(x4)
        x = self.up1(x5, x4)
        x = self.up2(x, x3)
        x = self.up3(x, x2)
        x = self.up4(x, x1)
        return self.outc(x)


@register_model("unet", divisor=16, min_size=32, ssl=SSLSpec("down4", 512, 1e-5), reference_params=17_276_290)
def unet(in_channels=3, n_classes=2, **kw):
    """UNet, bilinear upsampling (17.27 M parameters at n_classes=2)."""
    return UNet(in_channels, n_classes, **kw)
