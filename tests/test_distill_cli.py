"""run.py --mode distill end to end: outputs named by method and teacher, a student checkpoint that plain
models load strictly (test mode works on it), an exact --resume, and every bad input one error with nothing
written."""
import csv
import json
import os
import re

import numpy as np
import pytest

import run
from model import create_model
from tests.conftest import expect_error, folder_dataset
from tests.reliability.test_bad_input import snapshot
from utils import checkpoint as ckpt

BASE = ["--img-size", "32", "-b", "2", "-l", "1e-3"]
PLAIN = "unet-ds-Adam-ce-stnFalse-pretrainFalse-augFalse"
KD = ["--kd", "cwd,reviewkd", "--kd-layers", "down3:down3,down4:down4"]
DISTILLED = f"{PLAIN}-cwd+reviewkd-from-unet"


def main_in(folder, args):
    old = os.getcwd()
    os.chdir(folder)
    try:
        return run.main([str(a) for a in args])
    finally:
        os.chdir(old)


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    """A folder dataset and a teacher trained on it for one epoch: (data, teacher checkpoint)."""
    folder = tmp_path_factory.mktemp("teacher")
    data = folder_dataset(str(folder / "ds"))
    assert main_in(folder, ["--model", "unet", "--dataset", data, "--mode", "train", "-e", "1"] + BASE) == 0
    return data, str(folder / "checkpoints" / "unet" / f"{PLAIN}.pkl")


def distill_args(teacher, epochs=2, extra=KD):
    data, weights = teacher
    return (["--model", "unet", "--dataset", data, "--mode", "distill", "-e", epochs, "--teacher", "unet",
             "--teacher-load", weights] + BASE + extra)


@pytest.fixture(scope="module")
def distilled(teacher, tmp_path_factory):
    folder = tmp_path_factory.mktemp("distilled")
    assert main_in(folder, distill_args(teacher)) == 0
    return folder


def log(folder):
    return list(csv.DictReader(open(os.path.join(folder, "result", f"{DISTILLED}-log.csv"))))


def test_outputs_carry_method_and_teacher_and_the_student_is_a_plain_checkpoint(distilled, teacher, capsys,
                                                                                   monkeypatch):
    f = distilled
    best = f / "checkpoints" / "unet" / f"{DISTILLED}.pkl"
    assert best.is_file() and (f / "checkpoints" / "unet" / f"{DISTILLED}-last.pkl").is_file()
    assert not (f / "checkpoints" / "unet" / f"{PLAIN}.pkl").exists()     # never a plain run's name
    result = json.load(open(f / "result" / "unet-ds-Adam-ce-2-distill-stnFalse-pretrainFalse-augFalse-cwd+reviewkd"
                                           "-from-unet.json"))
    assert result["run"]["kd"] == "cwd+reviewkd" and result["run"]["teacher"] == "unet"
    assert result["run"]["distill"]["settings"]["reviewkd"]["layers"] == ["down3:down3", "down4:down4"]
    rows = log(f)
    assert [r["epoch"] for r in rows] == ["1", "2"] and float(rows[0]["kd_cwd"]) > 0 and float(rows[0]["kd_reviewkd"]) > 0
    # strictly loadable into a plain model: no connector, no teacher inside
    state = ckpt.load_file(str(best))
    ckpt.check_state(create_model("unet"), state, str(best), "unet")
    meta = state[ckpt.META_KEY]
    assert meta["model"] == "unet" and meta["config"]["kd"] == ["cwd", "reviewkd"]
    assert "distill" in ckpt.load_file(str(f / "checkpoints" / "unet" / f"{DISTILLED}-last.pkl"))
    # test mode: by file, or by the distilled configuration's name
    monkeypatch.chdir(f)
    data = teacher[0]
    test = ["--model", "unet", "--dataset", data, "--mode", "test", "-e", "2"] + BASE
    assert run.main(test + ["--load", str(best)]) == 0
    assert run.main(test + ["--kd", "cwd,reviewkd", "--teacher", "unet"]) == 0
    again = json.load(open(f / "result" / "unet-ds-Adam-ce-2-test-stnFalse-pretrainFalse-augFalse-cwd+reviewkd-from"
                                         "-unet.json"))
    assert again["dice_fg"] == pytest.approx(result["dice_fg"])
    capsys.readouterr()


def test_resume_continues_exactly(distilled, teacher, tmp_path):
    assert main_in(tmp_path, distill_args(teacher, epochs=1)) == 0
    assert main_in(tmp_path, distill_args(teacher, epochs=2) + ["--resume"]) == 0
    whole, resumed = log(distilled), log(tmp_path)
    assert [r["epoch"] for r in resumed] == ["1", "2"]
    for a, b in zip(whole, resumed):
        for key in ("train_loss", "mIoU", "kd_cwd", "kd_reviewkd"):
            assert float(a[key]) == pytest.approx(float(b[key]), rel=1e-4), key
    a = ckpt.load_file(str(distilled / "checkpoints" / "unet" / f"{DISTILLED}-last.pkl"))
    b = ckpt.load_file(str(tmp_path / "checkpoints" / "unet" / f"{DISTILLED}-last.pkl"))
    # The biases of convolutions followed by BatchNorm have a true gradient of 0: Adam turns the rounding noise
    # of theirs (which a fresh process sums in another order) into steps, so they are left out.
    before_bn = re.compile(r"(inc|down\d\.1|up\d\.conv)\.\d\.0\.bias$")
    for part in ("model", "distill"):
        keys = [k for k in a[part] if not (part == "model" and before_bn.search(k))]
        assert len(keys) > 0.8 * len(a[part])
        for k in keys:
            np.testing.assert_allclose(a[part][k], b[part][k], rtol=1e-4, atol=1e-6, err_msg=k)


@pytest.fixture
def unchanged(distilled, monkeypatch):
    before = snapshot(distilled)
    monkeypatch.chdir(distilled)
    yield distilled
    after = snapshot(distilled)
    assert after == before, {k for k in set(before) | set(after) if before.get(k) != after.get(k)}


def fake_checkpoint(path, model, n_classes, **meta):
    ckpt.save_weights(create_model(model, n_classes=n_classes), str(path), dict(model=model, n_classes=n_classes, **meta))
    return str(path)


def test_bad_input_is_one_error_and_nothing_is_written(unchanged, teacher, tmp_path, capsys):
    data, weights = teacher
    args = distill_args(teacher)

    def swap(flag, value, base=args):
        out = list(base)
        out[out.index(flag) + 1] = value
        return out
    expect_error(swap("--kd", "kdd"), capsys, r"unknown distillation method 'kdd' \(--kd\) \(did you mean 'kd'\?\)")
    other = fake_checkpoint(tmp_path / "simple.pkl", "simple", 2)
    expect_error(swap("--teacher-load", other), capsys, r"holds weights of model 'simple', not of --teacher unet")
    three = fake_checkpoint(tmp_path / "three.pkl", "unet", 3)
    expect_error(swap("--teacher-load", three), capsys, r"was trained with -c 3, but this run has -c 2")
    # a teacher checkpoint without metadata: its shapes tell
    state = {k: v for k, v in ckpt.load_file(three).items() if k != ckpt.META_KEY}
    ckpt.atomic_save(state, str(tmp_path / "bare.pkl"))
    expect_error(swap("--teacher-load", str(tmp_path / "bare.pkl")), capsys, r"shape mismatches .*outc")
    # teacher and student of different class counts: a 2-class teacher for a 3-class student
    expect_error(args + ["-c", "3"], capsys, r"trained with -c 2, but this run has -c 3")
    expect_error(swap("--kd-layers", "down3:down9"), capsys,
                 r"--kd-layers 'down9' is not a submodule of UNet; valid names: inc, down1, .*outc")
    expect_error(swap("--teacher-load", str(tmp_path / "missing.pkl")), capsys, r"--teacher-load .*missing.pkl: not found")
    expect_error(swap("--kd", "kd"), capsys, r"kd distil the class maps only")
    expect_error(swap("--kd-layers", "down3"), capsys, r"student:teacher pairs")
    expect_error(args + ["--kd-weight", "1"], capsys, r"one value per method of --kd cwd,reviewkd")
    expect_error(args + ["--kd-tau", ",2"], capsys, r"reviewkd has no temperature")
    expect_error(["--model", "unet", "--dataset", data, "--mode", "distill", "--kd", "kd", "--teacher-load",
                  weights] + BASE, capsys, r"needs --teacher MODEL")
    expect_error(["--model", "unet", "--dataset", data, "--mode", "train", "--kd", "kd"] + BASE, capsys,
                 r"--kd is a flag of --mode distill")
    expect_error(["--model", "unet", "--dataset", data, "--mode", "test", "--kd", "kd"] + BASE, capsys,
                 r"--kd and --teacher name a distilled student's files together")
    # the same output names with other settings: refused unless --overwrite
    expect_error(swap("-l", "1e-2"), capsys, r"holds the best weights .*lr 0\.001 -> 0\.01")
