"""UNet++ (Zhou et al., 2018, arXiv:1807.10165) without deep supervision, as in the original library.

Nodes ``X[i][j]`` (level ``i`` = 0..4 with widths 64-1024, column ``j``): the encoder column ``X[i][0]`` is
max-pool + double conv; every other node is a double conv over ``concat(X[i][0..j-1], up(X[i+1][j-1]))``.
The plain variant (``unetpp``) upsamples with bilinear x2 alone; the big variant (``unetppbig``) follows every
upsample with a double conv at the same width (the original's ``NestedUNet_Big``).  The logits come from a 1x1
convolution on ``X[0][4]``.  Submodules keep the original's names: ``conv{i}_{j}``, ``up{i}_{j}`` (big variant).
"""
import jittor as jt
from jittor import nn

from .registry import register_model
from .blocks import DoubleConv, OutConv

DEPTH = 4


class NestedUNet(nn.Module):
    """UNet++ of depth 4; ``big=True`` adds a ``DoubleConv(c, c, mid=c // 2)`` after every bilinear upsample."""

    def __init__(self, in_channels=3, n_classes=2, big=False, base=64):
        super().__init__()
        widths = [base * 2 ** i for i in range(DEPTH + 1)]
        self.pool = nn.MaxPool2d(2, stride=2)
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.big = big
        for i in range(DEPTH + 1):
            for j in range(DEPTH + 1 - i):
                if j == 0:
                    in_ch = in_channels if i == 0 else widths[i - 1]
                else:
                    in_ch = widths[i] * j + widths[i + 1]
                setattr(self, f"conv{i}_{j}", DoubleConv(in_ch, widths[i]))
                if big and i > 0:  # every node below level 0 is upsampled once
                    setattr(self, f"up{i}_{j}", DoubleConv(widths[i], widths[i], widths[i] // 2))
        self.final = OutConv(widths[0], n_classes)

    def _upsample(self, x, i, j):
        """Bring node ``X[i][j]`` to level ``i - 1``."""
        x = self.up(x)
        return getattr(self, f"up{i}_{j}")(x) if self.big else x

    def execute(self, x):
        nodes = [[] for _ in range(DEPTH + 1)]  # nodes[i][j] = X[i][j]
        for i in range(DEPTH + 1):
            x = getattr(self, f"conv{i}_0")(x if i == 0 else self.pool(x))
            nodes[i].append(x)
        for j in range(1, DEPTH + 1):
            for i in range(DEPTH + 1 - j):
                inputs = nodes[i][:j] + [self._upsample(nodes[i + 1][j - 1], i + 1, j - 1)]
                nodes[i].append(getattr(self, f"conv{i}_{j}")(jt.concat(inputs, dim=1)))
        return self.final(nodes[0][DEPTH])


# min_size 32: Jittor's max pooling refuses an input no larger than its kernel (a 2x2 map at 1/8).
@register_model("unetpp", divisor=16, min_size=32)
def unetpp(in_channels=3, n_classes=2, **kw):
    """UNet++ (nested dense skips, 64-1024, bilinear upsampling), no deep supervision."""
    return NestedUNet(in_channels, n_classes, big=False, **kw)


@register_model("unetppbig", divisor=16, min_size=32)
def unetppbig(in_channels=3, n_classes=2, **kw):
    """UNet++ with a double conv after every upsampling (the original's NestedUNet_Big)."""
    return NestedUNet(in_channels, n_classes, big=True, **kw)
