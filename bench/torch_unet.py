"""A PyTorch port of ``model/unet.py`` with the same architecture and parameter names.

``state_dict()`` keys equal the Jittor model's (``inc.0.0.weight``, ``down1.1.0.1.running_mean``,
``up1.conv.1.0.bias``, ``outc.weight``, ...), except for PyTorch's extra ``num_batches_tracked`` counters, so
weights copy across by name.  Needs torch (``make setup-torch``).

This file repeats the structure of ``model/unet.py`` and ``model/blocks.py`` line for line on purpose: it is the
PyTorch reference the parity checks compare against, so it must not share code with the Jittor side.
"""
import torch
from torch import nn
from torch.nn import functional as F


class ConvBNReLU(nn.Sequential):
    def __init__(self, in_ch, out_ch):
        super().__init__(nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=True), nn.BatchNorm2d(out_ch), nn.ReLU())


class DoubleConv(nn.Sequential):
    def __init__(self, in_ch, out_ch, mid_ch=None):
        mid_ch = mid_ch or out_ch
        super().__init__(ConvBNReLU(in_ch, mid_ch), ConvBNReLU(mid_ch, out_ch))


class Down(nn.Sequential):
    def __init__(self, in_ch, out_ch):
        super().__init__(nn.MaxPool2d(2, 2), DoubleConv(in_ch, out_ch))


class Up(nn.Module):
    def __init__(self, in_ch, out_ch):
        super().__init__()
        self.conv = DoubleConv(in_ch, out_ch, in_ch // 2)

    def forward(self, x, skip):
        x = F.interpolate(x, size=skip.shape[2:], mode="bilinear", align_corners=False)
        return self.conv(torch.cat([skip, x], dim=1))


class TorchUNet(nn.Module):
    """UNet, bilinear, BatchNorm: 64-128-256-512-512 encoder, four Up blocks, 1x1 head."""

    def __init__(self, in_channels=3, n_classes=2, base=64):
        super().__init__()
        c1, c2, c3, c4, c5 = base, base * 2, base * 4, base * 8, base * 16
        self.inc = DoubleConv(in_channels, c1)
        self.down1, self.down2, self.down3 = Down(c1, c2), Down(c2, c3), Down(c3, c4)
        self.down4 = Down(c4, c5 // 2)
        self.up1, self.up2 = Up(c5, c4 // 2), Up(c4, c3 // 2)
        self.up3, self.up4 = Up(c3, c2 // 2), Up(c2, c1)
        self.outc = nn.Conv2d(c1, n_classes, 1)

    def forward(self, x):
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x4 = self.down3(x3)
        x5 = self.down4(x4)
        x = self.up1(x5, x4)
        x = self.up2(x, x3)
        x = self.up3(x, x2)
        return self.outc(self.up4(x, x1))


def load_numpy_state(model, arrays):
    """Copy ``{name: numpy array}`` into ``model`` strictly (every key but num_batches_tracked must match)."""
    own = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    missing, unexpected = sorted(set(own) - set(arrays)), sorted(set(arrays) - set(own))
    if missing or unexpected:
        raise KeyError(f"state mismatch: missing {missing[:5]}, unexpected {unexpected[:5]}")
    with torch.no_grad():
        for k, v in own.items():
            v.copy_(torch.from_numpy(arrays[k]).reshape(v.shape))
