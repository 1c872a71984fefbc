"""Learning check (slow): every registered model fits a few demo images.

Each model trains on 8 demo training slices resized to its registered ``test_size`` (64 x 64, or 128 for the heads
with logits at 1/16, where a 4 x 4 map cannot draw the small demo organs, and 192 for CE-Net, whose multi-kernel
pooling needs a 6 x 6 map; batch 4, Adam) and must reach a foreground Dice of at least 0.8 on those images within
its step budget; the Dice is checked every 10 steps.  The
original published four models that learned nothing (Dice 0.4994 = all background); none of ours may.

Run: ``make test-slow`` or ``pytest -m slow tests/model/test_learning.py -k NAME``.
"""
import numpy as np
import pytest

from tests.conftest import jt
from dataset import load_split
from dataset.loader import SegDataset
from loss import build_loss
from model import create_model, list_models, model_info
from utils.optim import make_optimizer
from utils.metrics import ConfusionMatrix

DEFAULTS = dict(lr=1e-3, steps=300, loss="ce", optimizer="Adam")


def fit_demo_images(name, demo_root, n_images=8, **overrides):
    """Train ``name`` on ``n_images`` demo slices; return (foreground Dice reached, steps used)."""
    cfg = {**DEFAULTS, "size": model_info(name).test_size, **overrides}
    samples = load_split("demo", "train", demo_root)[:n_images]
    data = SegDataset(samples, img_size=cfg["size"], batch_size=4, shuffle=True)
    jt.set_global_seed(0)
    model = create_model(name, in_channels=3, n_classes=2)
    opt = make_optimizer(cfg["optimizer"], model.parameters(), cfg["lr"])
    criterion = build_loss(cfg["loss"])
    images = jt.array(np.stack([data[i][0] for i in range(len(samples))]))
    masks = np.stack([data[i][1] for i in range(len(samples))])
    step, dice = 0, 0.0
    while step < cfg["steps"]:
        model.train()
        for x, y, _ in data:
            opt.step(criterion(model(x), y))
            step += 1
            if step % 10 == 0:
                model.eval()
                with jt.no_grad():
                    pred = model(images).argmax(dim=1)[0].numpy()
                dice = ConfusionMatrix(2).update(masks, pred).scores()["dice_fg"]
                model.train()
                if dice >= 0.8 or step >= cfg["steps"]:
                    return dice, step
    return dice, step


@pytest.mark.slow
@pytest.mark.parametrize("name", list_models())
def test_model_learns_demo_images(name, demo_root):
    dice, steps = fit_demo_images(name, demo_root)
    assert dice >= 0.8, f"{name}: foreground Dice {dice:.3f} after {steps} steps"
