"""The Synapse layout (train_npz/*.npz, test_vol_h5/*.npy.h5) on a tiny synthetic set made here in exactly that
layout, and the per-volume, per-organ metrics of its protocol against hand-computed values."""
import json
import os

import h5py
import numpy as np
import pytest

import run
from dataset import load_split
from dataset.io import read_image, read_mask
from dataset.synapse import ORGANS, val_cases
from tests.conftest import expect_error
from utils.errors import DataError
from utils.metrics import Evaluator

SIZE = 32


def slice_pair(rng):
    image = rng.rand(SIZE, SIZE).astype(np.float32)
    label = np.zeros((SIZE, SIZE), np.uint8)
    for organ in range(1, 9):  # a small square of every organ
        r, c = divmod(organ - 1, 4)
        label[4 + 12 * r:10 + 12 * r, 2 + 7 * c:7 + 7 * c] = organ
    return image, label


def make_synapse(root, train_cases=("case0005", "case0006", "case0007"), test_cases={"case0001": 3, "case0002": 2}):
    """Three training cases of two slices, two test volumes; returns the arrays written, by stem."""
    rng = np.random.RandomState(0)
    os.makedirs(os.path.join(root, "train_npz"))
    os.makedirs(os.path.join(root, "test_vol_h5"))
    written = {}
    for case in train_cases:
        for index in range(2):
            image, label = slice_pair(rng)
            np.savez(os.path.join(root, "train_npz", f"{case}_slice{index:03d}.npz"), image=image, label=label)
            written[f"{case}_slice{index:03d}"] = (image, label)
    for case, depth in test_cases.items():
        pairs = [slice_pair(rng) for _ in range(depth)]
        with h5py.File(os.path.join(root, "test_vol_h5", f"{case}.npy.h5"), "w") as f:
            f["image"] = np.stack([p[0] for p in pairs])
            f["label"] = np.stack([p[1] for p in pairs])
        written.update({f"{case}_slice{z:03d}": p for z, p in enumerate(pairs)})
    return written


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("JMEDSEG_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_reader_splits_slices_and_keeps_the_values(tmp_path, cache):
    root = str(tmp_path / "Synapse")
    written = make_synapse(root)
    held_out = val_cases(["case0005", "case0006", "case0007"])
    assert len(held_out) == 1
    train, val, test = (load_split(root, s) for s in ("train", "val", "test"))
    assert {s.case for s in val} == held_out and len(val) == 2 and len(train) == 4
    assert not {s.case for s in train} & held_out
    # the test split: every slice of every volume, in volume order, the volume as the case
    assert [s.stem for s in test] == ["case0001_slice000", "case0001_slice001", "case0001_slice002",
                                      "case0002_slice000", "case0002_slice001"]
    assert [s.case for s in test] == ["case0001"] * 3 + ["case0002"] * 2
    for s in train + val + test:
        image, label = written[s.stem]
        np.testing.assert_array_equal(read_image(s.image)[..., 0], np.round(image * 255).astype(np.uint8))
        np.testing.assert_array_equal(read_mask(s.mask), label)
    # converted once: a second reading uses the cache, a changed source rebuilds it
    folder = os.path.dirname(os.path.dirname(test[0].image))
    stamp = os.path.getmtime(os.path.join(folder, "source.json"))
    load_split(root, "test")
    assert os.path.getmtime(os.path.join(folder, "source.json")) == stamp
    image, label = written["case0005_slice000"]
    np.savez(os.path.join(root, "train_npz", "case0005_slice000.npz"), image=image * 0.5, label=label)
    again = [s for s in load_split(root, "train") + load_split(root, "val") if s.stem == "case0005_slice000"][0]
    np.testing.assert_array_equal(read_image(again.image)[..., 0], np.round(image * 0.5 * 255).astype(np.uint8))


@pytest.mark.parametrize("arrays,pattern", [
    (dict(image=np.full((SIZE, SIZE), 200.0), label=np.zeros((SIZE, SIZE))), r"image values lie in \[200, 200\]"),
    (dict(image=np.zeros((SIZE, SIZE)), label=np.full((SIZE, SIZE), 9)), r"label values \[9\] lie outside 0..8"),
    (dict(image=np.zeros((SIZE, SIZE))), "has no label array"),
    (dict(image=np.zeros((SIZE, SIZE)), label=np.zeros((SIZE, 8))), "differ in shape"),
])
def test_bad_sources_are_errors_naming_the_file_and_leave_no_cache(tmp_path, cache, arrays, pattern):
    root = str(tmp_path / "Synapse")
    make_synapse(root)
    np.savez(os.path.join(root, "train_npz", "case0006_slice001.npz"), **arrays)
    with pytest.raises(DataError, match=pattern) as e:
        load_split(root, "train")
    assert "case0006_slice001.npz" in str(e.value)
    assert os.listdir(cache / "synapse") == []


def test_run_py_trains_and_reports_every_organ_per_volume(tmp_path, cache, monkeypatch, capsys):
    root = str(tmp_path / "Synapse")
    make_synapse(root)
    monkeypatch.chdir(tmp_path)
    args = ["--model", "unet", "--dataset", root, "-c", "9", "--img-size", "32", "-b", "2", "-e", "1", "-l", "1e-3"]
    assert run.main(args + ["--mode", "train"]) == 0
    out = capsys.readouterr().out
    assert "| Dice | HD95 | aorta | gallbladder | kidney_left |" in out
    result = json.load(open(tmp_path / "result" / "unet-Synapse-Adam-ce-1-train-stnFalse-pretrainFalse-augFalse.json"))
    assert result["run"]["class_names"] == list(ORGANS)
    assert result["n_volumes"] == 2 and set(result["per_volume"]) == {"case0001", "case0002"}
    assert sorted(result["per_class_volume"], key=int) == [str(c) for c in range(1, 9)]
    dice = [v["dice"] for v in result["per_class_volume"].values()]
    assert result["volume_dice"] == pytest.approx(np.mean(dice))
    expect_error(args[:4] + ["-c", "2", "--img-size", "32", "--mode", "test"], capsys, r"label values \[2, 3, 4, 5, 6, 7, 8\] outside 0..1")


# --------------------------------------------------------------------------------------------------- metrics
def test_per_volume_metrics_against_hand_computed_values():
    """Volume A: organ 1 a 2x2x2 cube, predicted shifted by one column (overlap 4 of 8 + 8 voxels: Dice 0.5;
    half of each surface at distance 0, half at 1: HD95 1, ASD 0.5); organ 2 a voxel missed (Dice 0, no
    distance). Volume B: organ 1 exact (Dice 1, HD95 0), organ 2 absent from both (Dice 1)."""
    ev = Evaluator(3, surface=True)
    for z in range(2):
        truth = np.zeros((8, 8), np.int64)
        truth[2:4, 2:4] = 1
        if z == 0:
            truth[6, 6] = 2
        pred = np.zeros((8, 8), np.int64)
        pred[2:4, 3:5] = 1
        ev.add(truth, pred, case="A")
    for z in range(2):
        truth = np.zeros((8, 8), np.int64)
        truth[1:5, 1:3] = 1
        ev.add(truth, truth.copy(), case="B")
    r = ev.summary()
    a, b = r["per_volume"]["A"], r["per_volume"]["B"]
    assert a["1"]["dice"] == pytest.approx(0.5) and a["1"]["hd95"] == pytest.approx(1.0)
    assert a["1"]["asd"] == pytest.approx(0.5)
    assert a["2"] == dict(dice=0.0, hd95=None, asd=None, empty_mismatch=True)
    assert b["1"]["dice"] == 1.0 and b["1"]["hd95"] == 0.0 and b["2"]["dice"] == 1.0 and b["2"]["hd95"] is None
    assert r["per_class_volume"]["1"] == dict(dice=0.75, hd95=0.5, asd=0.25, n_volumes=2, n_empty_mismatch=0)
    assert r["per_class_volume"]["2"] == dict(dice=0.5, hd95=None, asd=None, n_volumes=2, n_empty_mismatch=1)
    assert r["volume_dice"] == pytest.approx(0.625) and r["volume_hd95"] == pytest.approx(0.5)
    assert r["n_volumes"] == 2 and r["n_volumes_skipped"] == 0
    # volumes are stacked in 3D: a cube predicted one slice too deep is 1 voxel away, not a missing slice
    ev = Evaluator(2, surface=True)
    for z in range(4):
        truth = np.zeros((6, 6), np.int64)
        pred = np.zeros((6, 6), np.int64)
        truth[1:4, 1:4] = int(z < 3)
        pred[1:4, 1:4] = int(z > 0)
        ev.add(truth, pred, case="C")
    c = ev.summary()["per_volume"]["C"]["1"]
    assert c["dice"] == pytest.approx(2 * 18 / 54) and c["hd95"] == pytest.approx(1.0)
    # validation (no surface distances) keeps no slices
    assert "per_volume" not in Evaluator(2, surface=False).summary()
