"""utils/visualize.py: overlay colours, mask files, figures."""
import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from utils.visualize import CLASS_COLORS, GT_COLOR, PRED_COLOR, mask_to_png, overlay, save_figure, save_mask


def square(lo, hi, size=12):
    m = np.zeros((size, size), np.int64)
    m[lo:hi, lo:hi] = 1
    return m


def test_two_class_overlay_draws_truth_red_over_prediction_cyan():
    image = np.full((12, 12), 50, np.uint8)
    out = overlay(image, square(2, 8), square(4, 10))
    assert out.shape == (12, 12, 3)
    assert tuple(out[2, 2]) == PRED_COLOR         # a corner of the predicted square only
    assert tuple(out[9, 9]) == GT_COLOR           # a corner of the true square only
    assert tuple(out[5, 5]) == (50, 50, 50)       # inside both: the image itself
    assert tuple(out[4, 4]) == GT_COLOR           # truth is drawn last, on top


def test_multi_class_overlay_has_truth_and_prediction_panels():
    truth = square(2, 6) * 2
    out = overlay(np.zeros((12, 12, 3), np.uint8), square(2, 6), truth, n_classes=3)
    assert out.shape == (12, 12 * 2 + 4, 3)
    assert tuple(out[2, 2]) == CLASS_COLORS[1]    # left panel: class 2's colour on its contour
    assert tuple(out[2, 16 + 2]) == CLASS_COLORS[0]  # right panel: class 1's colour
    assert (out[:, 12:16] == 255).all()           # the white gap


def test_mask_files(tmp_path):
    assert mask_to_png(np.array([[0, 1]]), 2).tolist() == [[0, 255]]
    assert mask_to_png(np.array([[0, 2]]), 3).tolist() == [[0, 2]]
    save_mask(str(tmp_path / "a" / "m.png"), np.array([[0, 1], [1, 0]]), 2)
    assert np.asarray(Image.open(tmp_path / "a" / "m.png")).tolist() == [[0, 255], [255, 0]]


def test_save_figure_creates_folders(tmp_path):
    fig = Figure(figsize=(2, 2))
    fig.subplots().plot([0, 1], [1, 0])
    save_figure(fig, str(tmp_path / "x" / "y.png"))
    assert Image.open(tmp_path / "x" / "y.png").size == (180, 180)
