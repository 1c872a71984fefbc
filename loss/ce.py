"""Cross-entropy, weighted by class (``-w``), averaged like PyTorch's weighted mean."""

from .registry import register_loss
from .functional import log_softmax, one_hot, pixel_weights, weighted_mean


class CrossEntropyLoss:
    """``sum_i w[y_i] * (-log p_i[y_i]) / sum_i w[y_i]`` over all pixels of the batch."""

    def __init__(self, weights=None):
        self.weights = weights

    def __call__(self, logits, target):
        n_classes = logits.shape[1]
        t = one_hot(target, n_classes)
        nll = -(log_softmax(logits, dim=1) * t).sum(dim=1)
        weights = self.weights or [1.0] * n_classes
        return weighted_mean(nll, pixel_weights(t, weights))


@register_loss("ce", uses_class_weights=True)
def ce(weights=None, **_):
    """softmax cross-entropy, weighted by class (-w)"""
    return CrossEntropyLoss(weights)
