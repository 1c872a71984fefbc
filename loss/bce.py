"""Binary cross-entropy on each class channel against the one-hot target (sigmoid, not softmax)."""
import jittor as jt

from .registry import register_loss
from .functional import one_hot, pixel_weights, weighted_mean


class BCEWithLogitsLoss:
    """Per channel ``max(x, 0) - x t + log(1 + exp(-|x|))``, averaged over channels, then a weighted mean over
    pixels with the weight of each pixel's true class (``-w``)."""

    def __init__(self, weights=None):
        self.weights = weights

    def __call__(self, logits, target):
        n_classes = logits.shape[1]
        t = one_hot(target, n_classes)
        per_elem = jt.maximum(logits, 0.0) - logits * t + jt.log(1.0 + jt.exp(-jt.abs(logits)))
        weights = self.weights or [1.0] * n_classes
        return weighted_mean(per_elem.mean(dim=1), pixel_weights(t, weights))


@register_loss("bce", uses_class_weights=True)
def bce(weights=None, **_):
    """binary cross-entropy on each class channel (sigmoid), weighted by class (-w)"""
    return BCEWithLogitsLoss(weights)
