"""Nothing lost: earlier weights, predictions and results survive a new run; crashed writes leave nothing
behind; files get the usual permissions."""
import json
import os

import numpy as np
import pytest
from PIL import Image

import run
from tests.conftest import expect_error, folder_dataset
from utils import checkpoint as ckpt
from utils.atomic import atomic_write_text, remove_stale_temporaries

BASE = ["--model", "unet", "--img-size", "32", "-b", "2", "-l", "1e-3", "-e", "1"]
TAG = "unet-ds-Adam-ce-stnFalse-pretrainFalse-augFalse"


@pytest.fixture
def trained(in_tmp):
    data = folder_dataset(str(in_tmp / "ds"))
    assert run.main(BASE + ["--dataset", data, "--mode", "train"]) == 0
    return data


def best_meta():
    return ckpt.read_meta(os.path.join("checkpoints", "unet", f"{TAG}.pkl"))


def test_the_same_settings_again_may_replace_them_and_overwrite_replaces_others(trained, capsys):
    assert best_meta()["config"]["lr"] == 1e-3
    capsys.readouterr()
    assert run.main(BASE + ["--dataset", trained, "--mode", "train"]) == 0   # a seeded rerun: the same weights
    assert "holds an earlier run of these same settings" in capsys.readouterr().out
    assert run.main(BASE + ["--dataset", trained, "--mode", "train", "-l", "2e-3", "--overwrite"]) == 0
    assert best_meta()["config"]["lr"] == 2e-3


def test_checkpoints_without_recorded_settings_are_protected_too(trained, capsys):
    path = os.path.join("checkpoints", "unet", f"{TAG}.pkl")
    state = ckpt.load_file(path)
    del state[ckpt.META_KEY]["config"]
    ckpt.atomic_save(state, path)
    expect_error(BASE + ["--dataset", trained, "--mode", "train"], capsys, "settings that were not recorded")


def test_predictions_of_two_inputs_with_one_name_go_to_two_folders(trained, tmp_path, capsys):
    inputs = []
    for k, value in ((1, 40), (2, 200)):
        folder = tmp_path / f"site{k}" / "images"
        folder.mkdir(parents=True)
        Image.fromarray(np.full((32, 32), value, np.uint8)).save(folder / "scan.png")
        inputs.append(str(folder))
    for folder in inputs:
        assert run.main(BASE + ["--dataset", trained, "--mode", "predict", "--input", folder]) == 0
    out = capsys.readouterr().out
    first = "test_performance/unet-ds-Adam-ce-1-predict-stnFalse-pretrainFalse-augFalse-images"
    assert f"{first}/masks/" in out and f"{first}-2/masks/" in out
    for folder, source in ((first, inputs[0]), (first + "-2", inputs[1])):
        assert json.load(open(os.path.join(folder, "source.json")))["input"] == source
        assert os.path.isfile(os.path.join(folder, "masks", "scan.png"))
    # the first input again goes back to its own folder
    assert run.main(BASE + ["--dataset", trained, "--mode", "predict", "--input", inputs[0]]) == 0
    assert not os.path.exists(first + "-3")


def test_a_full_disk_keeps_the_earlier_results(trained, capsys, monkeypatch):
    import utils.atomic as atomic
    assert run.main(BASE + ["--dataset", trained, "--mode", "test"]) == 0
    result = os.path.join("result", "unet-ds-Adam-ce-1-test-stnFalse-pretrainFalse-augFalse.json")
    before = open(result, "rb").read()
    real = atomic.os.replace

    def full(src, dst):
        if dst.endswith(".json"):
            raise OSError(28, "No space left on device")
        return real(src, dst)
    monkeypatch.setattr(atomic.os, "replace", full)
    err = expect_error(BASE + ["--dataset", trained, "--mode", "test"], capsys,
                       r"cannot write result/.*\.json: the disk is full")
    assert "the earlier unet-ds-Adam-ce-1-test-stnFalse-pretrainFalse-augFalse.json is unchanged" in err
    assert open(result, "rb").read() == before
    assert not [f for f in os.listdir("result") if ".tmp-" in f]


def test_a_temporary_left_by_a_killed_writer_is_removed_by_the_next_write(tmp_path):
    import subprocess
    import sys
    target = tmp_path / "best.pkl"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".best.pkl.{dead.pid}.tmp-abc123"
    stale.write_bytes(b"half a checkpoint")
    alive = tmp_path / f".best.pkl.{os.getppid()}.tmp-def456"   # a writer that still runs: left alone
    alive.write_bytes(b"in progress")
    atomic_write_text("new", str(target))
    assert target.read_text() == "new" and not stale.exists() and alive.exists()
    assert remove_stale_temporaries(str(target)) == []


def test_outputs_get_the_usual_permissions(trained):
    mask = os.umask(0)
    os.umask(mask)
    for path in (os.path.join("checkpoints", "unet", f"{TAG}.pkl"),
                 os.path.join("result", "unet-ds-Adam-ce-1-train-stnFalse-pretrainFalse-augFalse.json")):
        assert os.stat(path).st_mode & 0o777 == 0o666 & ~mask, path


def test_split_csv_with_a_byte_order_mark_and_spaces(tmp_path):
    from dataset import load_split
    data = folder_dataset(str(tmp_path / "ds"))
    rows = open(os.path.join(data, "split.csv")).read().replace(",", ", ")
    open(os.path.join(data, "split.csv"), "w", encoding="utf-8-sig").write(rows)
    assert [s.stem for s in load_split(data, "train")] == ["s0", "s1"]
    assert [s.stem for s in load_split(data, "test")] == ["s3"]
