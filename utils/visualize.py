"""Pictures: training curves, overlays of prediction and ground truth, predicted mask PNGs.

Two classes: one picture with the ground-truth contours in red ``(255, 0, 0)`` and the predicted contours in
cyan ``(0, 255, 255)`` (how the original's overlay files look; its code meant yellow/blue but wrote BGR).
More classes: two panels side by side, ground truth left and prediction right, each class filled (alpha 0.45)
and outlined in its colour from :data:`CLASS_COLORS` (class 1 first; the list repeats after 20 classes).
"""
import os

import cv2
import numpy as np
from matplotlib.figure import Figure

GT_COLOR = (255, 0, 0)
PRED_COLOR = (0, 255, 255)
# Colours of classes 1, 2, ... in multi-class overlays (RGB; matplotlib's tab20 order).
CLASS_COLORS = [
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
    (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207), (174, 199, 232), (255, 187, 120),
    (152, 223, 138), (255, 152, 150), (197, 176, 213), (196, 156, 148), (247, 182, 210), (199, 199, 199),
    (219, 219, 141), (158, 218, 229),
]


def class_color(c):
    return CLASS_COLORS[(c - 1) % len(CLASS_COLORS)]


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


def _rgb(image):
    out = np.array(image, dtype=np.uint8, copy=True)
    return np.repeat(out[:, :, None], 3, axis=2) if out.ndim == 2 else out


def _class_panel(image, labels):
    out = _rgb(image).astype(np.float32)
    for c in np.unique(labels):
        if c == 0:
            continue
        region = labels == c
        out[region] = 0.55 * out[region] + 0.45 * np.array(class_color(int(c)), np.float32)
        out[_contour_pixels(region.astype(np.uint8))] = class_color(int(c))
    return out.astype(np.uint8)


def overlay(image, pred, truth=None, n_classes=2):
    """An overlay picture (see the module docstring for the colours)."""
    if n_classes <= 2:
        out = _rgb(image)
        out[_contour_pixels(pred)] = PRED_COLOR
        if truth is not None:
            out[_contour_pixels(truth)] = GT_COLOR
        return out
    panels = ([_class_panel(image, truth)] if truth is not None else []) + [_class_panel(image, pred)]
    gap = np.full((panels[0].shape[0], 4, 3), 255, np.uint8)
    return np.concatenate(sum(([p, gap] for p in panels), [])[:-1], axis=1)


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


def save_figure(fig, path, dpi=90):
    """Write a matplotlib :class:`~matplotlib.figure.Figure` to ``path`` (folders created).

    Figures are built with ``Figure()`` rather than pyplot, so no global backend or figure list is involved.
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=dpi)


def plot_curves(history, path, title=""):
    """Training loss and validation mIoU / mDice / foreground Dice against the epoch."""
    epochs = [h["epoch"] for h in history]
    panels = [("train_loss", "training loss"), ("mIoU", "validation mIoU"), ("mDice", "validation mDice"),
              ("dice_fg", "validation foreground Dice")]
    fig = Figure(figsize=(7, 2.4 * len(panels)))
    axes = fig.subplots(len(panels), 1, sharex=True)
    for ax, (key, label) in zip(axes, panels):
        ax.plot(epochs, [h.get(key, np.nan) for h in history], marker="o", ms=3, label=label)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(loc="best")
    axes[-1].set_xlabel("epoch")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path)
