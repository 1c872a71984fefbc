"""Focal loss (Lin et al., 2017) with the original's constants: gamma 2, alpha 0.5, mean over pixels."""
import jittor as jt

from .registry import register_loss
from .functional import log_softmax, one_hot


class FocalLoss:
    """``mean_i alpha * (1 - p_i)^gamma * (-log p_i)``, ``p_i`` the probability of pixel i's true class."""

    def __init__(self, gamma=2.0, alpha=0.5):
        self.gamma, self.alpha = gamma, alpha

    def __call__(self, logits, target):
        logp = (log_softmax(logits, dim=1) * one_hot(target, logits.shape[1])).sum(dim=1)
        return (self.alpha * (1.0 - jt.exp(logp)) ** self.gamma * -logp).mean()


@register_loss("focal")
def focal(**_):
    """focal loss (down-weights well-classified pixels)"""
    return FocalLoss()
