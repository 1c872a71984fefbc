"""LRF-EANet (the original library's ``LRFEANet``): a large-receptive-field encoder with an external-attention head.

The encoder ("LRF ResNet") downsamples only by patch merging (a k = s = 2 convolution that widens the channels
4x, then a 1x1 convolution) and stacks residual aggregation blocks (dilated conv3 widening 2x, 1x1 back) with
the dilations ``[1]*5``, ``[1]*5``, ``[1, 1, 2]*6`` and ``[1, 2, 4, 8]`` at 1/4, 1/4, 1/8 and 1/16 of the input
(256 -> 512 channels before the last stage). The head is EANet's: external attention on the 512-channel map,
a patch-split block (1x1 widening 4x, 2x2 stride-2 transposed convolution) with dropout 0.1, a 2x2 stride-2
transposed convolution to the logits at 1/4, and a bilinear resize to the input size. Every normalisation is
GroupNorm (:func:`model.blocks.group_norm`).

Parameters: 51,193,770 at n_classes=2, which is what the original's code builds (checked by hand arithmetic).
Its comment states 34,773,954 total / 34,718,274 trainable under the heading "resnet50 backbone": a stale
count from another network (GroupNorm has no running statistics, so total and trainable would be equal), so
it is not used as a reference.
"""
from jittor import nn

from .registry import register_model
from .blocks import ExternalAttention, group_norm, upsample_like


class PatchMergeBlock(nn.Sequential):
    """conv k = s = ``patch`` widening ``patch**2`` x -> GN -> ReLU -> 1x1 conv -> GN -> ReLU (downsampling)."""

    def __init__(self, in_ch, out_ch, patch=2):
        wide = in_ch * patch * patch
        super().__init__(
            nn.Conv2d(in_ch, wide, patch, stride=patch, bias=False), group_norm(wide), nn.ReLU(),
            nn.Conv2d(wide, out_ch, 1, bias=False), group_norm(out_ch), nn.ReLU())


class PatchSplitBlock(nn.Sequential):
    """1x1 conv widening ``patch**2`` x -> GN -> ReLU -> transposed conv k = s = ``patch`` -> GN -> ReLU
    (upsampling)."""

    def __init__(self, in_ch, out_ch, patch=2):
        wide = in_ch * patch * patch
        super().__init__(
            nn.Conv2d(in_ch, wide, 1, bias=False), group_norm(wide), nn.ReLU(),
            nn.ConvTranspose2d(wide, out_ch, patch, stride=patch, bias=False), group_norm(out_ch), nn.ReLU())


class AggregationBlock(nn.Module):
    """Residual block: dilated conv3 widening ``expansion`` x -> GN -> ReLU -> 1x1 conv -> GN, ``+ x``, ReLU."""

    def __init__(self, dim, dilation=1, expansion=2):
        super().__init__()
        wide = dim * expansion
        self.block = nn.Sequential(
            nn.Conv2d(dim, wide, 3, padding=dilation, dilation=dilation, bias=False), group_norm(wide), nn.ReLU(),
            nn.Conv2d(wide, dim, 1, bias=False), group_norm(dim))

    def execute(self, x):
        return nn.relu(self.block(x) + x)


class LRFResNet(nn.Sequential):
    """The LRF encoder (output stride 16, 512 channels); ``stages`` are the dilations of each stage's blocks."""

    STAGES = ((1,) * 5, (1,) * 5, (1, 1, 2) * 6, (1, 2, 4, 8))

    def __init__(self, in_channels=3):
        def stage(dim, dilations):
            return nn.Sequential(*[AggregationBlock(dim, d) for d in dilations])

        s1, s2, s3, s4 = self.STAGES
        super().__init__(
            PatchMergeBlock(in_channels, 64), AggregationBlock(64), PatchMergeBlock(64, 64),   # 1/4
            stage(64, s1),
            PatchMergeBlock(64, 128), stage(128, s2),                                          # 1/8
            PatchMergeBlock(128, 256), stage(256, s3),                                         # 1/16
            nn.Conv2d(256, 512, 1, bias=False), group_norm(512), nn.ReLU(),
            stage(512, s4))


class LRFEANet(nn.Module):
    """LRF encoder (``backbone``) -> external attention (``head``) -> patch split + dropout (``split``) ->
    transposed conv to the logits (``fc``) -> bilinear resize."""

    def __init__(self, in_channels=3, n_classes=2):
        super().__init__()
        self.backbone = LRFResNet(in_channels)
        self.head = ExternalAttention(512)
        self.split = nn.Sequential(PatchSplitBlock(512, 256), nn.Dropout(0.1))
        self.fc = nn.ConvTranspose2d(256, n_classes, 2, stride=2)

    def execute(self, x):
        out = self.fc(self.split(self.head(self.backbone(x))))
        return upsample_like(out, x)


@register_model("lrfea", divisor=16)
def lrfea(in_channels=3, n_classes=2, **kw):
    """LRF-EANet: patch-merging dilated residual encoder (OS16, GroupNorm) with an external-attention head."""
    return LRFEANet(in_channels, n_classes, **kw)
