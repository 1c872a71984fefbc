"""pipeline/evaluate.py: the robustness benchmark on a tiny model (rows, files, and that perturbing changes
the scores), and the perturbed split it evaluates."""
import csv
import os

import numpy as np
import pytest

from tests.conftest import jt
from advance import robust
from dataset import load_split
from dataset.loader import SegDataset
from pipeline.evaluate import PerturbedSplit, run_benchmark


@pytest.fixture(scope="module")
def test_split(demo_root):
    return SegDataset(load_split("demo", "test", demo_root)[:4], img_size=32, batch_size=4).preload()


def test_perturbed_split_applies_the_seeded_perturbation_to_image_and_mask(test_split):
    a = PerturbedSplit(test_split, "rotation", 1.0, seed=0)
    image, mask = test_split.load(1)
    expected = robust.rotation(image, mask, 1.0, np.random.default_rng([0, 1]))
    np.testing.assert_array_equal(a.load(1)[0], expected[0])
    np.testing.assert_array_equal(a.load(1)[1], expected[1])
    noisy = [PerturbedSplit(test_split, "noise", 0.5, seed=s).load(2)[0] for s in (0, 0, 1)]
    np.testing.assert_array_equal(noisy[0], noisy[1])      # same seed, same image for every model
    assert not np.array_equal(noisy[0], noisy[2])


class BrightIsForeground(jt.nn.Module):
    """A fixed segmenter: foreground where the mean intensity exceeds 0.55 (its scores move with the image)."""

    def execute(self, x):
        r = x.mean(dim=1, keepdims=True)
        return jt.concat([(0.55 - r) * 20, (r - 0.55) * 20], dim=1)


def test_benchmark_rows_and_files(test_split, tmp_path):
    model = BrightIsForeground()
    prefix = str(tmp_path / "robust")
    rows = run_benchmark(model, test_split, 2, prefix, names=["noise", "rotation"], strengths=[0, 1], title="tiny")
    assert [(r["perturbation"], r["strength"]) for r in rows] == [("noise", 0), ("noise", 1), ("rotation", 0),
                                                                  ("rotation", 1)]
    clean, noisy, _, turned = rows
    assert clean["mDice"] == rows[2]["mDice"]  # the clean score is shared
    # the perturbed rows are scores of other images: they differ from the clean row
    assert noisy["mDice"] != clean["mDice"] and turned["mDice"] != clean["mDice"]
    saved = list(csv.DictReader(open(prefix + ".csv")))
    assert len(saved) == 4 and set(robust.METRICS) <= set(saved[0])
    for row, line in zip(rows, saved):
        assert float(line["strength"]) == row["strength"]
        for k in robust.METRICS:
            assert float(line[k]) == pytest.approx(row[k], abs=1e-6)
    md = open(prefix + ".md").read()
    assert f"| noise | {clean['dice_fg']:.4f} | {noisy['dice_fg']:.4f} |" in md
    for suffix in (".png", "-examples.png"):
        assert os.path.getsize(prefix + suffix) > 5000
    text = robust.compare([prefix + ".csv", prefix + ".csv"], ["A", "B"], str(tmp_path / "cmp"))
    assert f"| rotation | {turned['dice_fg']:.4f} | {turned['dice_fg']:.4f} |" in text
    assert os.path.isfile(str(tmp_path / "cmp.png"))
