"""Metrics on hand-made masks whose answers can be worked out on paper."""
import numpy as np
import pytest

from utils.metrics import ConfusionMatrix, Evaluator, dice_binary, surface_distances


def small_case():
    truth = np.array([[0, 1], [1, 1]])
    pred = np.array([[0, 1], [0, 1]])
    return truth, pred  # cm = [[1, 0], [1, 2]]


def test_confusion_matrix_scores_by_hand():
    truth, pred = small_case()
    cm = ConfusionMatrix(2).update(truth, pred)
    np.testing.assert_array_equal(cm.matrix, [[1, 0], [1, 2]])
    s = cm.scores()
    assert s["mDice"] == pytest.approx((2 / 3 + 4 / 5) / 2)     # dice0 = 2/(1+2), dice1 = 4/(3+2)
    assert s["mIoU"] == pytest.approx((1 / 2 + 2 / 3) / 2)      # iou0 = 1/2, iou1 = 2/3
    assert s["dice_fg"] == pytest.approx(4 / 5)
    assert s["iou_fg"] == pytest.approx(2 / 3)
    assert s["mPrecision"] == pytest.approx(1.0)               # foreground: 2 of 2 predicted are right
    assert s["mRecall"] == pytest.approx(2 / 3)                # foreground: 2 of 3 found
    assert s["mAcc"] == pytest.approx(3 / 4)
    assert s["mAcc_class"] == pytest.approx((1 + 2 / 3) / 2)
    assert s["mFWIoU"] == pytest.approx(0.25 * 0.5 + 0.75 * 2 / 3)


def test_pooling_over_images_is_not_averaging_per_image():
    cm = ConfusionMatrix(2)
    cm.update(np.array([1, 1, 1, 1]), np.array([1, 1, 1, 1]))   # perfect
    cm.update(np.array([1, 0, 0, 0]), np.array([0, 0, 0, 0]))   # missed one pixel
    assert cm.scores()["dice_fg"] == pytest.approx(2 * 4 / (5 + 4))


def test_all_background_prediction_gives_the_originals_collapsed_numbers():
    # 0.24% foreground predicted as background: mDice = (1 - f) / (2 - f) = 0.4994, mIoU = (1 - f) / 2 = 0.4988
    n, fg = 100_000, 240
    truth = np.zeros(n, int)
    truth[:fg] = 1
    s = ConfusionMatrix(2).update(truth, np.zeros(n, int)).scores()
    assert s["mDice"] == pytest.approx(0.4994, abs=1e-4)
    assert s["mIoU"] == pytest.approx(0.4988, abs=1e-4)
    assert np.isnan(s["mPrecision"]) and s["mRecall"] == 0.0


def test_labels_outside_the_classes_are_ignored():
    cm = ConfusionMatrix(2).update(np.array([0, 1, 255]), np.array([0, 1, 1]))
    assert cm.matrix.sum() == 2


def test_dice_binary_empty_conventions():
    empty = np.zeros((4, 4), bool)
    full = np.ones((4, 4), bool)
    assert dice_binary(empty, empty) == 1.0
    assert dice_binary(full, empty) == 0.0


def pixels(*coords, shape=(12, 12)):
    m = np.zeros(shape, bool)
    for y, x in coords:
        m[y, x] = True
    return m


def test_surface_distance_of_two_single_pixels():
    assert surface_distances(pixels((5, 5)), pixels((5, 8))) == (3.0, 3.0)


def test_surface_distance_asymmetric_case():
    # pred {(5,5)}, truth {(5,5), (5,9)}: pred->truth [0]; truth->pred [0, 4].
    # ASD = (0 + 2) / 2 = 1; HD95 = 95th percentile of [0, 0, 4] = 3.6 (linear interpolation).
    asd, hd95 = surface_distances(pixels((5, 5)), pixels((5, 5), (5, 9)))
    assert asd == pytest.approx(1.0)
    assert hd95 == pytest.approx(3.6)


def test_surface_distance_uses_spacing():
    assert surface_distances(pixels((5, 5)), pixels((5, 8)), spacing=(1.0, 2.0)) == (6.0, 6.0)


def test_surface_distance_matches_brute_force_on_blobs():
    rng = np.random.RandomState(0)
    yy, xx = np.mgrid[0:40, 0:40]
    a = (yy - 20) ** 2 / 80 + (xx - 18) ** 2 / 40 < 1
    b = (yy - 17) ** 2 / 60 + (xx - 22) ** 2 / 90 < 1
    a |= rng.rand(40, 40) > 0.995
    from scipy import ndimage
    def surface(m):
        return np.argwhere(m & ~ndimage.binary_erosion(m, ndimage.generate_binary_structure(2, 1)))
    pa, pb = surface(a), surface(b)
    d = np.sqrt(((pa[:, None, :] - pb[None, :, :]) ** 2).sum(-1))
    ab, ba = d.min(1), d.min(0)
    asd, hd95 = surface_distances(a, b)
    assert asd == pytest.approx(0.5 * (ab.mean() + ba.mean()))
    assert hd95 == pytest.approx(np.percentile(np.concatenate([ab, ba]), 95))


def test_surface_distance_is_none_when_a_mask_is_empty():
    assert surface_distances(pixels(), pixels((1, 1))) is None


def test_evaluator_empty_mask_convention_and_cases():
    ev = Evaluator(2)
    empty = np.zeros((6, 6), int)
    blob = empty.copy()
    blob[2:4, 2:4] = 1
    ev.add(empty, empty, case="both-empty")          # Dice 1, no distances
    ev.add(blob, empty, case="missed")               # Dice 0, one empty -> counted
    ev.add(blob, blob, case="perfect")               # Dice 1, distances 0
    s = ev.summary()
    assert s["per_case_dice"] == {"both-empty": 1.0, "missed": 0.0, "perfect": 1.0}
    assert s["dice_case"] == pytest.approx(2 / 3)
    assert s["n_empty_mismatch"] == 1
    assert s["asd"] == 0.0 and s["hd95"] == 0.0
    assert s["n_images"] == 3 and s["n_cases"] == 3


def test_evaluator_case_dice_pools_a_patients_slices():
    ev = Evaluator(2, surface=False)
    a = np.array([[1, 1, 0, 0]])
    ev.add(a, a, case="p1")                                # 2 true positives
    ev.add(np.array([[1, 1, 0, 0]]), np.array([[0, 0, 0, 0]]), case="p1")  # 2 missed
    assert ev.case_dice()["p1"] == pytest.approx(2 * 2 / (4 + 2))


def test_evaluator_multiclass_reports_per_class():
    ev = Evaluator(3, surface=False)
    truth = np.array([[0, 1, 2, 2]])
    pred = np.array([[0, 1, 2, 1]])
    ev.add(truth, pred)
    s = ev.summary()
    assert s["per_class"]["2"]["dice"] == pytest.approx(2 / 3)
    assert s["per_class"]["1"]["dice"] == pytest.approx(2 / 3)
    assert s["dice_fg"] == pytest.approx(2 / 3)
