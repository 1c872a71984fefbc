"""Soft Dice and soft IoU (Jaccard) losses, per class, pooled over the batch."""
from jittor import nn

from .registry import register_loss
from .functional import one_hot


def _soft_overlap(logits, target, smooth):
    """Per-class (intersection, sum of probabilities, sum of targets) over batch and pixels."""
    n_classes = logits.shape[1]
    p = nn.softmax(logits, dim=1)
    t = one_hot(target, n_classes)
    dims = [0, 2, 3]
    return (p * t).sum(dims), p.sum(dims), t.sum(dims)


class _OverlapLoss:
    def __init__(self, smooth=1.0, include_background=False):
        self.smooth = smooth
        self.include_background = include_background

    def score(self, inter, psum, tsum):
        raise NotImplementedError

    def __call__(self, logits, target):
        inter, psum, tsum = _soft_overlap(logits, target, self.smooth)
        score = self.score(inter, psum, tsum)
        if not self.include_background:
            score = score[1:]
        return 1.0 - score.mean()


class DiceLoss(_OverlapLoss):
    """``1 - mean_c (2 I_c + s) / (P_c + T_c + s)`` over the foreground classes (background optional), s = 1."""

    def score(self, inter, psum, tsum):
        return (2.0 * inter + self.smooth) / (psum + tsum + self.smooth)


class IoULoss(_OverlapLoss):
    """``1 - mean_c (I_c + s) / (P_c + T_c - I_c + s)`` over the foreground classes (background optional)."""

    def score(self, inter, psum, tsum):
        return (inter + self.smooth) / (psum + tsum - inter + self.smooth)


@register_loss("dice")
def dice(**_):
    """soft Dice of the foreground classes, pooled over the batch"""
    return DiceLoss()


@register_loss("iou")
def iou(**_):
    """soft IoU (Jaccard) of the foreground classes, pooled over the batch"""
    return IoULoss()
