"""MultiResUNet (Ibtehaz & Rahman, 2020, arXiv:1902.04049) in the variant of the original library (nf = 32).

Each MultiRes block replaces a double conv by a chain of three 3x3 conv-BN-ReLU layers (approximating 3x3, 5x5
and 7x7 receptive fields) whose outputs are concatenated and added to a 1x1 shortcut; its width is
``W = alpha * U`` with alpha = 1.67 split 0.167 / 0.333 / 0.5.  Skips pass through ResPaths (chains of 3x3
convs with 1x1 residuals, of length 4, 3, 2, 1 from the shallowest level) and the decoder upsamples with 2x2
transposed convolutions.  Convolutions use reflection "same" padding and no bias, every one followed by
BatchNorm, as in the original.

The final 1x1 convolution is followed by BatchNorm, so the logits are batch-normalised (with a learned scale
and shift).  We keep it deliberately: the paper's reference code ends the same way (``conv2d_bn`` then the output
activation) and the learning check shows the network trains with it.  Submodules keep the original names
(``mres_block1..9``, ``res_path1..4``, ``deconv1..4``, ``conv10``).
"""
import jittor as jt
from jittor import nn

from .blocks import ConvBNReLU
from .registry import register_model

ALPHA = 1.67


def conv_bn(in_ch, out_ch, kernel_size, relu=True):
    """conv(k, no bias) with reflection "same" padding -> BatchNorm [-> ReLU] (the Keras original's conv2d_bn)."""
    return ConvBNReLU(in_ch, out_ch, kernel_size, bias=False, pad_mode="reflect", act=nn.ReLU if relu else None)


class MultiResBlock(nn.Module):
    """``bn2(relu(bn1(concat(c3, c5, c7)) + shortcut(x)))`` with ``c3 -> c5 -> c7`` chained 3x3 convs."""

    def __init__(self, in_ch, u, alpha=ALPHA):
        super().__init__()
        w = alpha * u
        c3, c5, c7 = int(w * 0.167), int(w * 0.333), int(w * 0.5)
        self.out_channels = c3 + c5 + c7
        self.shortcut = conv_bn(in_ch, self.out_channels, 1, relu=False)
        self.conv3x3 = conv_bn(in_ch, c3, 3)
        self.conv5x5 = conv_bn(c3, c5, 3)
        self.conv7x7 = conv_bn(c5, c7, 3)
        self.bn_1 = nn.BatchNorm2d(self.out_channels)
        self.bn_2 = nn.BatchNorm2d(self.out_channels)

    def execute(self, x):
        a = self.conv3x3(x)
        b = self.conv5x5(a)
        c = self.conv7x7(b)
        out = self.bn_1(jt.concat([a, b, c], dim=1)) + self.shortcut(x)
        return self.bn_2(nn.relu(out))


class ResPathBlock(nn.Module):
    """``bn(relu(conv3x3(x) + shortcut1x1(x)))``."""

    def __init__(self, in_ch, out_ch):
        super().__init__()
        self.shortcut = conv_bn(in_ch, out_ch, 1, relu=False)
        self.conv = conv_bn(in_ch, out_ch, 3)
        self.bn = nn.BatchNorm2d(out_ch)

    def execute(self, x):
        return self.bn(nn.relu(self.conv(x) + self.shortcut(x)))


class ResPath(nn.Sequential):
    """``length`` :class:`ResPathBlock` s, the first changing the width to ``out_ch``."""

    def __init__(self, in_ch, out_ch, length):
        super().__init__(*[ResPathBlock(in_ch if i == 0 else out_ch, out_ch) for i in range(length)])


class MultiResUNet(nn.Module):
    """MultiResUNet with base width ``nf`` (32): MultiRes blocks at U = nf, 2nf, 4nf, 8nf, 16nf."""

    def __init__(self, in_channels=3, n_classes=2, nf=32):
        super().__init__()
        self.pool = nn.MaxPool2d(2, stride=2)
        in_ch = in_channels
        for level in range(1, 6):  # encoder: mres_block1..5, res_path1..4 (lengths 4, 3, 2, 1)
            block = MultiResBlock(in_ch, nf * 2 ** (level - 1))
            setattr(self, f"mres_block{level}", block)
            if level < 5:
                setattr(self, f"res_path{level}", ResPath(block.out_channels, nf * 2 ** (level - 1), 5 - level))
            in_ch = block.out_channels
        for k in range(1, 5):  # decoder: deconv1..4 and mres_block6..9 from 1/8 up to full resolution
            width = nf * 2 ** (4 - k)
            setattr(self, f"deconv{k}", nn.ConvTranspose2d(in_ch, width, 2, stride=2))
            block = MultiResBlock(2 * width, width)
            setattr(self, f"mres_block{5 + k}", block)
            in_ch = block.out_channels
        self.conv10 = conv_bn(in_ch, n_classes, 1, relu=False)

    def execute(self, x):
        skips = []
        for level in range(1, 5):
            x = getattr(self, f"mres_block{level}")(x)
            skips.append(getattr(self, f"res_path{level}")(x))
            x = self.pool(x)
        x = self.mres_block5(x)
        for k in range(1, 5):
            x = jt.concat([getattr(self, f"deconv{k}")(x), skips.pop()], dim=1)
            x = getattr(self, f"mres_block{5 + k}")(x)
        return self.conv10(x)


# min_size 32: Jittor's max pooling refuses an input no larger than its kernel (a 2x2 map at 1/8).
@register_model("multires", divisor=16, min_size=32)
def multires(in_channels=3, n_classes=2, **kw):
    """MultiResUNet (nf=32, alpha 1.67): MultiRes blocks, ResPaths, transposed-conv upsampling."""
    return MultiResUNet(in_channels, n_classes, **kw)
