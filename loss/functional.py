"""Pieces shared by the losses: one-hot targets, a stable log-softmax, class weights from ``-w``."""
import jittor as jt

from utils.errors import ConfigError


def one_hot(target, n_classes):
    """``B x H x W`` integer labels -> ``B x C x H x W`` float32 one-hot."""
    classes = jt.arange(n_classes).reshape((1, n_classes, 1, 1))
    return (target.unsqueeze(1) == classes).float32()


def log_softmax(logits, dim=1):
    """log-softmax over ``dim`` computed as ``x - logsumexp(x)`` with the max subtracted first."""
    m = logits.max(dim=dim, keepdims=True).stop_grad()
    shifted = logits - m
    return shifted - jt.log(jt.exp(shifted).sum(dim=dim, keepdims=True))


def class_weights(w, n_classes):
    """Per-class weights from the ``-w W`` flag: ``[2 - W, W, W, ...]`` (background first).

    This is the meaning the original's README documents ("w and 2.0 - w"): the default ``W = 1`` is plain,
    unweighted cross-entropy, and ``W = 0.8`` gives ``[1.2, 0.8]``.
    """
    w = float(w)
    if not 0.0 <= w <= 2.0:
        raise ConfigError(f"-w must lie in [0, 2] (class weights [2 - w, w] must not be negative), got {w}")
    return [2.0 - w] + [w] * (n_classes - 1)


def weighted_mean(values, weights):
    """``sum(values * weights) / sum(weights)``; 0 (not NaN) when every weight is zero."""
    return (values * weights).sum() / jt.maximum(weights.sum(), jt.array(1e-12))


def pixel_weights(target_1hot, weights):
    """Weight of each pixel's true class, ``B x H x W``."""
    w = jt.array(weights, dtype="float32").reshape((1, len(weights), 1, 1))
    return (target_1hot * w).sum(dim=1)
