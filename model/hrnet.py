"""HRNet (Sun et al., "Deep High-Resolution Representation Learning", CVPR 2019) as the original library builds it.

Width ``c`` = 16. Unlike the paper's stem (two stride-2 convolutions), the original keeps the **full
resolution**: conv3 3 -> 64, conv3 64 -> 64 (stride 1, BN, ReLU), then ``layer1`` = 4 Bottlenecks (-> 256
channels) at the input resolution. Stages 2, 3 and 4 (1, 4 and 3 modules) run 2, 3 and 4 parallel branches of
``c * 2**i`` channels at 1/2**i of the input, each branch 4 BasicBlocks per module, and every module fuses the
branches (1x1 conv + BN + nearest upsampling from coarser branches, chains of stride-2 conv3 + BN from finer
ones, ReLU of the sum). The last module keeps only branch 0, and a 1x1 convolution gives the logits at the
input resolution. H and W must be multiples of 8 (the coarsest branch is at 1/8). The residual blocks are the
shared ResNet's (:mod:`model.backbone.resnet`).
"""
from jittor import nn

from .registry import register_model
from .backbone.resnet import BasicBlock, Bottleneck
from .blocks import ConvBNReLU


class StageModule(nn.Module):
    """One HRNet module: ``branches`` parallel branches of 4 BasicBlocks, fused into ``output_branches`` outputs.

    ``fuse_layers[i][j]`` brings branch ``j`` to branch ``i``'s resolution and width: the identity for
    ``i == j``; 1x1 conv + BN + nearest upsampling x ``2**(j - i)`` for a coarser branch; ``i - j`` stride-2
    conv3 + BN (with ReLU between them) for a finer one. Output ``i`` is the ReLU of the sum.
    """

    def __init__(self, branches, output_branches, c):
        super().__init__()
        widths = [c * 2 ** i for i in range(branches)]
        self.branches = nn.ModuleList([nn.Sequential(*[BasicBlock(w, w) for _ in range(4)]) for w in widths])
        self.fuse_layers = nn.ModuleList()
        for i in range(output_branches):
            row = []
            for j in range(branches):
                if i == j:
                    row.append(nn.Identity())
                elif i < j:
                    row.append(nn.Sequential(
                        nn.Conv2d(widths[j], widths[i], 1, bias=False), nn.BatchNorm2d(widths[i]),
                        nn.Upsample(scale_factor=2 ** (j - i), mode="nearest")))
                else:
                    steps = [ConvBNReLU(widths[j], widths[j], 3, stride=2, bias=False) for _ in range(i - j - 1)]
                    steps.append(ConvBNReLU(widths[j], widths[i], 3, stride=2, bias=False, act=None))
                    row.append(nn.Sequential(*steps))
            self.fuse_layers.append(nn.ModuleList(row))

    def execute(self, xs):
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        outs = []
        for row in self.fuse_layers:
            total = row[0](xs[0])
            for fuse, x in zip(row[1:], xs[1:]):
                total = total + fuse(x)
            outs.append(nn.relu(total))
        return outs


class HRNet(nn.Module):
    """Full-resolution stem, ``layer1``, ``transition1..3``, ``stage2..4`` and ``final_layer`` as in the original."""

    def __init__(self, in_channels=3, n_classes=2, c=16):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.conv2 = nn.Conv2d(64, 64, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(64)
        self.layer1 = nn.Sequential(Bottleneck(64, 64, downsample=ConvBNReLU(64, 256, 1, bias=False, act=None)),
                                    *[Bottleneck(256, 64) for _ in range(3)])
        # transition_k keeps the existing branches and opens branch k at half the resolution of branch k-1.
        self.transition1 = nn.ModuleList([ConvBNReLU(256, c, 3, bias=False),
                                           ConvBNReLU(256, 2 * c, 3, stride=2, bias=False)])
        self.stage2 = nn.Sequential(StageModule(2, 2, c))
        self.transition2 = ConvBNReLU(2 * c, 4 * c, 3, stride=2, bias=False)
        self.stage3 = nn.Sequential(*[StageModule(3, 3, c) for _ in range(4)])
        self.transition3 = ConvBNReLU(4 * c, 8 * c, 3, stride=2, bias=False)
        self.stage4 = nn.Sequential(StageModule(4, 4, c), StageModule(4, 4, c), StageModule(4, 1, c))
        self.final_layer = nn.Conv2d(c, n_classes, 1)

    def execute(self, x):
        x = nn.relu(self.bn1(self.conv1(x)))
        x = self.layer1(nn.relu(self.bn2(self.conv2(x))))
        xs = self.stage2([t(x) for t in self.transition1])
        xs = self.stage3(xs + [self.transition2(xs[-1])])
        xs = self.stage4(xs + [self.transition3(xs[-1])])
        return self.final_layer(xs[0])


@register_model("hrnet", divisor=8)
def hrnet(in_channels=3, n_classes=2, **kw):
    """HRNet (c=16) with a full-resolution stem, 4 stages of parallel branches, logits from branch 0."""
    return HRNet(in_channels, n_classes, **kw)
