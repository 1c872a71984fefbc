"""The bad-input sweep: every case ends with exit status 2, one ``error:`` line naming the bad value, and the
outputs of an earlier run byte for byte as they were.

One tiny training run (a 4-image folder dataset at 32 px, one epoch) makes the "earlier outputs"; every case
runs in its folder and checks, afterwards, that no file there was changed, added or removed.
"""
import hashlib
import os
import re

import numpy as np
import pytest
from PIL import Image

import run
from tests.conftest import expect_error, folder_dataset

BASE = ["--model", "unet", "--img-size", "32", "-b", "2", "-l", "1e-3", "-e", "1"]


def snapshot(folder):
    """{relative path: sha256} of every file under ``folder``."""
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            out[os.path.relpath(path, folder)] = hashlib.sha256(open(path, "rb").read()).hexdigest()
    return out


@pytest.fixture(scope="module")
def earlier(tmp_path_factory):
    """A folder holding a finished training run (its dataset in ``ds/``), and its snapshot."""
    folder = tmp_path_factory.mktemp("earlier")
    data = folder_dataset(str(folder / "ds"))
    old = os.getcwd()
    os.chdir(folder)
    try:
        assert run.main(BASE + ["--dataset", data, "--mode", "train"]) == 0
    finally:
        os.chdir(old)
    return folder, data


@pytest.fixture
def unchanged(earlier, monkeypatch):
    """Run the test inside the earlier run's folder; afterwards every file there must be as it was."""
    folder, data = earlier
    before = snapshot(folder)
    monkeypatch.chdir(folder)
    yield data
    after = snapshot(folder)
    assert after == before, {k for k in set(before) | set(after) if before.get(k) != after.get(k)}


def bad_folder(tmp_path, **kw):
    return folder_dataset(str(tmp_path / "bad"), **kw)


# ------------------------------------------------------------------------------------------- data loss
def test_a_new_run_with_other_settings_does_not_replace_the_best_weights(unchanged, capsys):
    err = expect_error(BASE + ["--dataset", unchanged, "--mode", "train", "-l", "1e-7"], capsys,
                       r"holds the best weights \(epoch 1, val mIoU .*lr 0\.001 -> 1e-07.*--overwrite")
    assert "--resume" in err


def test_a_folder_of_the_same_name_elsewhere_is_another_dataset(unchanged, tmp_path, capsys):
    other = folder_dataset(str(tmp_path / "ds"))  # the same base name, "ds", so the same output names
    expect_error(BASE + ["--dataset", other, "--mode", "train"], capsys,
                 re.escape(f"dataset '{os.path.abspath(unchanged)}' -> '{other}'"))


# ------------------------------------------------------------------------------------- silently wrong
@pytest.mark.parametrize("label_map,pattern", [
    ("0:0,255:1,-1:0", "mask value -1 is negative"),
    ("255:1,255:0", "mask value 255 is mapped twice"),
    ("0:0,255:2", "class 2 is outside 0..1 for -c 2"),
])
def test_label_maps_that_would_drop_the_foreground(unchanged, capsys, label_map, pattern):
    expect_error(BASE + ["--dataset", unchanged, "--mode", "test", "--label-map", label_map], capsys, pattern)


def test_a_stem_in_two_splits(unchanged, tmp_path, capsys):
    data = bad_folder(tmp_path)
    with open(os.path.join(data, "split.csv"), "a") as f:
        f.write("s0,test\n")
    expect_error(BASE + ["--dataset", data, "--mode", "test"], capsys, r"stem 's0' is listed again \(first on line 2\)")


@pytest.mark.parametrize("flags,pattern", [
    (["--loss", "ce_0_dice_0"], "every ratio is 0"),
    (["--loss", "ce_inf"], "ratio 'inf' must be a finite number"),
    (["-l", "nan"], "-l must be a finite positive number, got nan"),
    (["-l", "inf"], "-l must be a finite positive number, got inf"),
    (["-w", "nan"], "-w must lie in"),
])
def test_losses_and_rates_that_cannot_train(unchanged, capsys, flags, pattern):
    expect_error(BASE + ["--dataset", unchanged, "--mode", "train"] + flags, capsys, pattern)


# ------------------------------------------------------------------------------ tracebacks no more
@pytest.mark.parametrize("content,pattern", [
    (b"", r"s1.npy is empty \(0 bytes\)"),
    ("1d", r"s1.npy holds an array of shape \(32,\)"),
])
def test_broken_npy_images(unchanged, tmp_path, capsys, content, pattern):
    data = bad_folder(tmp_path)
    os.remove(os.path.join(data, "images", "s1.png"))
    path = os.path.join(data, "images", "s1.npy")
    if content == "1d":
        np.save(path, np.zeros(32, np.uint8))
    else:
        open(path, "wb").write(content)
    expect_error(BASE + ["--dataset", data, "--mode", "train"], capsys, pattern)  # s1 is a training image


@pytest.mark.parametrize("flags,pattern", [
    (["--seed", "-1"], "--seed must be a non-negative integer, got -1"),
    (["-r", "ds/split.csv"], "-r ds/split.csv is a file"),
    (["--data-root", "ds/split.csv"], "--data-root ds/split.csv is a file"),
    (["-c", "1"], "-c must be at least 2"),
    (["--window", "30"], r"--window 30 is not.*--window 32"),
    (["--window", "0"], "--window must be positive"),
    (["--load", "checkpoints"], "--load checkpoints: a folder"),
    (["--load", "absent.pkl"], "--load absent.pkl: not found"),
])
def test_flags_refused_before_any_work(unchanged, capsys, flags, pattern):
    expect_error(BASE + ["--dataset", unchanged, "--mode", "test"] + flags, capsys, pattern)


def test_overlap_is_checked_before_the_data_is_read(unchanged, tmp_path, capsys):
    data = bad_folder(tmp_path)
    open(os.path.join(data, "images", "s3.png"), "wb").write(b"\x89PNG broken")  # would fail when read
    expect_error(BASE + ["--dataset", data, "--mode", "test", "--window", "32", "--overlap", "1.5"], capsys,
                 r"--overlap must lie in \[0, 1\), got 1.5")


# ------------------------------------------------------------------------------------ resources
def test_an_image_size_that_cannot_fit_in_memory(unchanged, capsys, monkeypatch):
    import utils.memory as memory
    monkeypatch.setattr(memory, "available_bytes", lambda: 4e9)
    err = expect_error(BASE + ["--dataset", unchanged, "--mode", "train", "--img-size", "4096", "-b", "8",
                               "--overwrite"], capsys,
                       r"training step of unet on 8 x 3 x 4096 x 4096 needs about [0-9.]+ GB .* more than the "
                       r"4.0 GB this machine has free\. Use --img-size (\d+)")
    fit = int(err.split("--img-size ")[1].split()[0])
    assert 32 <= fit < 4096 and fit % 16 == 0


def test_two_trainings_of_one_configuration_at_once(unchanged, capsys):
    import subprocess
    import sys
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock = os.path.join("checkpoints", "unet", "unet-ds-Adam-ce-stnFalse-pretrainFalse-augFalse.lock")
        open(lock, "w").write(f"{other.pid}\n")
        try:
            expect_error(BASE + ["--dataset", unchanged, "--mode", "train", "--overwrite"], capsys,
                         f"another training of unet-ds-.* is running \\(process {other.pid}")
        finally:
            os.remove(lock)
    finally:
        other.kill()
        other.wait()


# ------------------------------------------------------------------------------------- images
def test_sixteen_bit_images_are_scaled_not_clipped(tmp_path):
    from dataset.io import read_image
    ramp = np.linspace(0, 3344, 64 * 64).reshape(64, 64).astype(np.uint16)
    path = str(tmp_path / "ct16.png")
    Image.fromarray(ramp).save(path)
    assert Image.open(path).mode.startswith("I")
    image = read_image(path)
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    assert image.min() == 0 and image.max() == 255 and (image == 255).mean() < 0.01  # not 75 % white
    np.testing.assert_array_equal(image[..., 0], np.round(ramp / 3344.0 * 255).astype(np.uint8))
