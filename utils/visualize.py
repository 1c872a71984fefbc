"""Pictures: training curves, overlays of prediction and ground-truth contours, predicted mask PNGs.

Overlay colours (RGB): ground truth contours red ``(255, 0, 0)``, predicted contours cyan ``(0, 255, 255)``
(how the original's overlay files look; its code meant yellow/blue but wrote BGR).
"""
import os

import cv2
import numpy as np

GT_COLOR = (255, 0, 0)
PRED_COLOR = (0, 255, 255)


def _contour_pixels(mask):
    """Boolean map of the outer and inner contour pixels of every foreground region of a label map."""
    out = np.zeros(mask.shape, bool)
    for c in np.unique(mask):
        if c == 0:
            continue
        binary = (mask == c).astype(np.uint8)
        contours, _ = cv2.findContours(binary, cv2.RETR_TREE, cv2.CHAIN_APPROX_NONE)
        for cnt in contours:
            pts = cnt.reshape(-1, 2)
            out[pts[:, 1], pts[:, 0]] = True
    return out


def overlay(image, pred, truth=None):
    """RGB uint8 image with the predicted contours (cyan) and, when given, the true contours (red)."""
    out = np.array(image, dtype=np.uint8, copy=True)
    if out.ndim == 2:
        out = np.repeat(out[:, :, None], 3, axis=2)
    out[_contour_pixels(pred)] = PRED_COLOR
    if truth is not None:
        out[_contour_pixels(truth)] = GT_COLOR
    return out


def save_rgb(path, rgb):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    ok = cv2.imwrite(path, cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"could not write {path}")


def mask_to_png(mask, n_classes):
    """Binary masks as 0/255 (viewable); multi-class masks as class ids."""
    mask = np.asarray(mask)
    return (mask * 255).astype(np.uint8) if n_classes == 2 else mask.astype(np.uint8)


def save_mask(path, mask, n_classes):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if not cv2.imwrite(path, mask_to_png(mask, n_classes)):
        raise OSError(f"could not write {path}")


def plot_curves(history, path, title=""):
    """Training loss and validation mIoU / mDice / foreground Dice against the epoch."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    epochs = [h["epoch"] for h in history]
    panels = [("train_loss", "training loss"), ("mIoU", "validation mIoU"), ("mDice", "validation mDice"),
              ("dice_fg", "validation foreground Dice")]
    fig, axes = plt.subplots(len(panels), 1, figsize=(7, 2.4 * len(panels)), sharex=True)
    for ax, (key, label) in zip(axes, panels):
        ax.plot(epochs, [h.get(key, np.nan) for h in history], marker="o", ms=3, label=label)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(loc="best")
    axes[-1].set_xlabel("epoch")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
