"""Every loss against values worked out by hand.

The fixtures use logits whose softmax probabilities are round numbers:
* ``TWO_PIXELS``: pixel A has logits (0, 0) -> p = (1/2, 1/2), truth 0; pixel B has logits (0, ln 3) ->
  p = (1/4, 3/4), truth 1.  So -log p_true = ln 2 = 0.693147 for A and ln(4/3) = 0.287682 for B.
* ``FLAT``: a 2 x 2 image with logits (0, 0) everywhere (p = 1/2) and one foreground pixel of four.
"""
import math

import numpy as np
import pytest

from tests.conftest import jt
from loss import CompoundLoss, build_loss, list_losses, parse_loss_spec
from utils.errors import ConfigError

LN2, LN43 = math.log(2), math.log(4 / 3)


def two_pixels():
    logits = np.zeros((1, 2, 1, 2), np.float32)
    logits[0, 1, 0, 1] = math.log(3)
    return jt.array(logits), jt.array(np.array([[[0, 1]]], np.int32))


def flat():
    return jt.zeros((1, 2, 2, 2)), jt.array(np.array([[[0, 0], [0, 1]]], np.int32))


def value(loss_name, inputs, **kw):
    return float(build_loss(loss_name, **kw)(*inputs).item())


def test_registry_has_the_original_losses_and_bce():
    assert set(list_losses()) >= {"ce", "dice", "iou", "focal", "bce"}


def test_cross_entropy_unweighted():
    assert value("ce", two_pixels()) == pytest.approx((LN2 + LN43) / 2, abs=1e-6)


def test_cross_entropy_weights_are_two_minus_w_and_w():
    # -w 0.8 -> weights [1.2, 0.8]: (1.2 ln2 + 0.8 ln(4/3)) / (1.2 + 0.8)
    expected = (1.2 * LN2 + 0.8 * LN43) / 2.0
    assert value("ce", two_pixels(), w=0.8) == pytest.approx(expected, abs=1e-6)


def test_cross_entropy_with_all_weight_on_absent_class_is_zero_not_nan():
    logits, _ = two_pixels()
    background_only = jt.array(np.zeros((1, 1, 2), np.int32))
    assert value("ce", (logits, background_only), w=2.0) == 0.0


def test_cross_entropy_gradient_is_softmax_minus_onehot_over_n():
    logits, target = two_pixels()
    loss = build_loss("ce")(logits, target)
    g = jt.grad(loss, logits).numpy()[0, :, 0, :]  # C x pixels
    expected = np.array([[0.5 - 1, 0.25], [0.5, 0.75 - 1]]) / 2
    np.testing.assert_allclose(g, expected, atol=1e-6)


def test_dice_foreground():
    # p = 1/2 on 4 pixels, one foreground pixel: I = 0.5, P = 2, T = 1 -> (2*0.5 + 1) / (2 + 1 + 1) = 0.5
    assert value("dice", flat()) == pytest.approx(0.5, abs=1e-6)


def test_dice_with_background_averages_both_classes():
    from loss.overlap import DiceLoss
    # background: I = 1.5, P = 2, T = 3 -> (3 + 1) / (5 + 1) = 2/3; mean with 0.5 -> 7/12; loss 5/12
    loss = DiceLoss(include_background=True)(*flat())
    assert float(loss.item()) == pytest.approx(5 / 12, abs=1e-6)


def test_iou_foreground():
    # (I + 1) / (P + T - I + 1) = 1.5 / 3.5
    assert value("iou", flat()) == pytest.approx(1 - 1.5 / 3.5, abs=1e-6)


def test_dice_of_a_perfect_prediction_is_near_zero():
    target = np.array([[[0, 1], [1, 0]]], np.int32)
    logits = np.stack([(1 - target) * 20.0, target * 20.0], axis=1).astype(np.float32)
    assert value("dice", (jt.array(logits), jt.array(target))) == pytest.approx(0.0, abs=1e-6)


def test_focal():
    # mean of 0.5 (1 - p)^2 (-ln p) over p = 1/2 and p = 3/4
    expected = (0.5 * 0.25 * LN2 + 0.5 * 0.0625 * LN43) / 2
    assert value("focal", two_pixels()) == pytest.approx(expected, abs=1e-6)


def test_bce_per_channel_sigmoid():
    # A: x = (0, 0), t = (1, 0): ln 2 each.  B: x = (0, ln 3), t = (0, 1): ln 2 and ln(1 + 1/3).
    expected = (LN2 + (LN2 + LN43) / 2) / 2
    assert value("bce", two_pixels()) == pytest.approx(expected, abs=1e-6)


def test_compound_is_the_weighted_sum():
    inputs = two_pixels()
    ce, dice = value("ce", inputs), value("dice", inputs)
    crit = build_loss("ce_0.5_dice_0.5")
    assert isinstance(crit, CompoundLoss)
    assert float(crit(*inputs).item()) == pytest.approx(0.5 * ce + 0.5 * dice, abs=1e-6)
    assert value("ce_0.8_iou_0.2", inputs) == pytest.approx(0.8 * ce + 0.2 * value("iou", inputs), abs=1e-6)


def test_multiclass_losses_accept_n_classes():
    logits = jt.array(np.random.RandomState(0).randn(2, 4, 8, 8).astype(np.float32))
    target = jt.array(np.random.RandomState(1).randint(0, 4, (2, 8, 8)).astype(np.int32))
    for name in list_losses():
        v = value(name, (logits, target), n_classes=4, w=0.8)
        assert math.isfinite(v) and v > 0


@pytest.mark.parametrize("spec", ["ce_0.5_dice", "nope", "ce_x_dice_0.5", "ce_-1", "ce_0.5_hinge_0.5"])
def test_bad_loss_specs_are_clear_errors(spec):
    with pytest.raises(ConfigError):
        parse_loss_spec(spec)


@pytest.mark.parametrize("w", [-0.1, 2.5])
def test_w_outside_zero_two_is_an_error(w):
    with pytest.raises(ConfigError, match="-w"):
        build_loss("ce", w=w)
