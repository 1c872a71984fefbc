"""Robustness benchmark: every perturbation's contract, and the benchmark's files on a tiny model."""
import csv
import os

import numpy as np
import pytest

from advance import robust
from advance.robust import PERTURBATIONS, parse_perturbations, parse_strengths

GEOMETRIC = {"rotation", "scale", "translation", "screen_photo"}


def ct_like(size=64):
    """A grey, CT-like test image (body disc with a bright blob) and the blob's mask."""
    yy, xx = np.mgrid[0:size, 0:size]
    body = (yy - size / 2) ** 2 / (0.42 * size) ** 2 + (xx - size / 2) ** 2 / (0.46 * size) ** 2 <= 1
    target = (yy - 0.38 * size) ** 2 + (xx - 0.6 * size) ** 2 <= (0.12 * size) ** 2
    grey = np.where(body, 110, 5) + np.where(target, 80, 0) + 20 * np.sin(xx / 3.0) * body
    image = np.repeat(np.clip(grey, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    return image, target.astype(np.int64)


def difference(a, b):
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


@pytest.mark.parametrize("name", sorted(PERTURBATIONS))
def test_perturbation_contract(name):
    fn = PERTURBATIONS[name]
    image, mask = ct_like()
    same, same_mask = fn(image, mask, 0.0)
    np.testing.assert_array_equal(same, image)  # strength 0 = identity
    np.testing.assert_array_equal(same_mask, mask)
    assert same is not image  # a copy: callers may modify it
    previous = 0.0
    for s in (0.25, 0.5, 1.0):
        out, m = fn(image, mask, s, np.random.default_rng(0))
        assert out.shape == image.shape and out.dtype == np.uint8
        assert m.shape == mask.shape and m.dtype == mask.dtype and set(np.unique(m)) <= {0, 1}
        d = difference(out, image)
        assert d > previous, f"{name}: strength {s} is not further from the original ({d} <= {previous})"
        previous = d
        if name in GEOMETRIC:
            assert (m != mask).any()  # the mask moves with the image
        else:
            np.testing.assert_array_equal(m, mask)
    out, m = fn(image, None, 1.0)
    assert m is None and out.shape == image.shape
    with pytest.raises(ValueError):
        fn(image, mask, 1.5)


@pytest.mark.parametrize("name", sorted(GEOMETRIC))
def test_geometric_perturbations_keep_the_mask_on_the_target(name):
    image, mask = ct_like(96)
    out, m = PERTURBATIONS[name](image, mask, 0.6, np.random.default_rng(0))
    grey = out.astype(np.float32).mean(axis=2)
    # The target is the brightest structure: inside the moved mask the image is much brighter than around it.
    assert grey[m == 1].mean() > grey[(m == 0) & (grey > 40)].mean() + 40


def test_random_perturbations_are_reproducible():
    image, mask = ct_like()
    a, _ = robust.noise(image, mask, 0.5, np.random.default_rng([0, 3]))
    b, _ = robust.noise(image, mask, 0.5, np.random.default_rng([0, 3]))
    np.testing.assert_array_equal(a, b)


def test_parsers():
    assert parse_perturbations(None) == list(PERTURBATIONS)
    assert parse_perturbations("noise, blur") == ["noise", "blur"]
    with pytest.raises(ValueError, match="fog"):
        parse_perturbations("noise,fog")
    assert parse_strengths("1,0.5") == [0.0, 0.5, 1.0]
    with pytest.raises(ValueError):
        parse_strengths("0.5,2")


def test_benchmark_writes_table_plot_and_examples(demo_root, tmp_path):
    from dataset import SegDataset, load_split
    from model import create_model

    data = SegDataset(load_split("demo", "test", demo_root)[:4], img_size=32, batch_size=4).preload()
    model = create_model("unet", base=4)
    prefix = str(tmp_path / "robust")
    rows = robust.run_benchmark(model, data, 2, prefix, perturbations=["noise", "rotation"], strengths=[0, 1],
                                title="tiny")
    assert [(r["perturbation"], r["strength"]) for r in rows] == [("noise", 0), ("noise", 1), ("rotation", 0),
                                                                  ("rotation", 1)]
    assert rows[0]["mDice"] == rows[2]["mDice"]  # the clean score is shared
    saved = list(csv.DictReader(open(prefix + ".csv")))
    assert len(saved) == 4 and set(robust.METRICS) <= set(saved[0])
    md = open(prefix + ".md").read()
    assert "| noise |" in md and "s=1" in md
    for suffix in (".png", "-examples.png"):
        assert os.path.getsize(prefix + suffix) > 5000
    text = robust.compare([prefix + ".csv", prefix + ".csv"], ["A", "B"], str(tmp_path / "cmp"))
    assert "| rotation |" in text and os.path.isfile(str(tmp_path / "cmp.png"))
