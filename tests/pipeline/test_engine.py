"""pipeline/engine.py: the training step, evaluation with hand-computed metrics, per-sample seeding, windows."""
import os

import numpy as np
import pytest
from PIL import Image

from tests.conftest import jt
from advance.augment import color_augmentation
from dataset.base import Sample
from dataset.loader import SegDataset
from pipeline.engine import evaluate, predict_probs, seed_epoch, train_one_epoch
from utils.errors import TrainingDiverged


class RedIsForeground(jt.nn.Module):
    """Logits that call a pixel foreground where the red channel exceeds 0.5 (no parameters to learn)."""

    def execute(self, x):
        r = x[:, :1]
        return jt.concat([(0.5 - r) * 10, (r - 0.5) * 10], dim=1)


def write_pair(folder, stem, red, mask):
    img = np.zeros(red.shape + (3,), np.uint8)
    img[..., 0] = red * 255
    Image.fromarray(img).save(os.path.join(folder, f"{stem}.png"))
    Image.fromarray((mask * 255).astype(np.uint8)).save(os.path.join(folder, f"{stem}_m.png"))
    return Sample(stem, os.path.join(folder, f"{stem}.png"), os.path.join(folder, f"{stem}_m.png"))


def test_evaluate_gives_the_hand_computed_pooled_metrics(tmp_path):
    mask = np.zeros((4, 4), np.uint8)
    mask[1:3, 1:3] = 1                    # 4 foreground pixels in each image
    missed = mask.copy()
    missed[1, 1] = 0                      # image a: one foreground pixel predicted as background
    samples = [write_pair(str(tmp_path), "a", missed, mask), write_pair(str(tmp_path), "b", mask, mask)]
    data = SegDataset(samples, batch_size=2)
    result = evaluate(RedIsForeground(), data, 2)
    # pooled: TP 7, FN 1, FP 0, TN 24 -> foreground Dice 14/15, IoU 7/8; background Dice 48/49, IoU 24/25
    assert result["dice_fg"] == pytest.approx(14 / 15)
    assert result["iou_fg"] == pytest.approx(7 / 8)
    assert result["mDice"] == pytest.approx((14 / 15 + 48 / 49) / 2)
    assert result["mIoU"] == pytest.approx((7 / 8 + 24 / 25) / 2)
    assert result["dice_case"] == pytest.approx((6 / 7 + 1.0) / 2)   # image a: 2 * 3 / (3 + 4)
    assert result["n_images"] == 2 and result["infer_ms_per_image"] > 0


def test_train_one_epoch_updates_weights_and_stops_on_nan_before_the_update():
    class Scale(jt.nn.Module):
        def __init__(self):
            self.w = jt.ones((1,))

        def execute(self, x):
            return x[:, :2] * self.w

    batch = (jt.array(np.ones((2, 3, 4, 4), np.float32)), jt.array(np.ones((2, 4, 4), np.int32)), jt.array([0, 1]))
    model = Scale()
    opt = jt.nn.SGD(model.parameters(), 0.1)
    loss = train_one_epoch(model, [batch], lambda out, m: (out.sum() * 0 + 1.0) * model.w.sum(), opt, 1)
    assert loss == pytest.approx(1.0) and float(model.w.numpy()[0]) == pytest.approx(0.9)
    with pytest.raises(TrainingDiverged, match="loss became nan at epoch 2, batch 0"):
        train_one_epoch(model, [batch], lambda out, m: out.mean() * float("nan"), opt, 2)
    assert float(model.w.numpy()[0]) == pytest.approx(0.9)


def test_warped_masks_reach_the_loss():
    """train_one_epoch hands the masks to target_fn after the forward pass."""
    seen = []

    class Model(jt.nn.Module):
        def __init__(self):
            self.w = jt.ones((1,))

        def execute(self, x):
            seen.append("forward")
            return x[:, :2] * self.w

    def target_fn(masks):
        seen.append("target")
        return masks * 0

    losses = []

    def criterion(out, masks):
        losses.append(int(masks.numpy().sum()))
        return out.mean() * 0.0

    batch = (jt.array(np.ones((2, 3, 4, 4), np.float32)), jt.array(np.ones((2, 4, 4), np.int32)), jt.array([0, 1]))
    model = Model()
    train_one_epoch(model, [batch], criterion, jt.nn.SGD(model.parameters(), 0.1), 1, target_fn=target_fn)
    assert seen == ["forward", "target"] and losses == [0]


def test_augmentation_depends_only_on_seed_epoch_and_sample(tmp_path):
    rng = np.random.default_rng(0)
    samples = [write_pair(str(tmp_path), f"s{i}", rng.random((8, 8)), np.zeros((8, 8), np.uint8)) for i in range(3)]
    data = SegDataset(samples, augment=color_augmentation(), batch_size=1)
    seed_epoch(0, 3, [data])
    second = data[1][0]
    data[0], data[2]
    np.testing.assert_array_equal(data[1][0], second)          # whatever was drawn in between
    seed_epoch(0, 4, [data])
    assert not np.array_equal(data[1][0], second)               # another epoch, another draw
    seed_epoch(0, 3, [data])
    np.testing.assert_array_equal(data[1][0], second)


def test_sliding_windows_agree_with_one_pass_for_a_pixelwise_model():
    x = np.random.default_rng(1).random((1, 3, 24, 40)).astype(np.float32)
    whole = predict_probs(RedIsForeground(), x)
    tiled = predict_probs(RedIsForeground(), x, window=16, overlap=0.5)
    np.testing.assert_allclose(whole.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(tiled, whole, atol=1e-5)
