"""utils/atomic.py and utils/checkpoint.py: atomic writes, strict loading, the optimizer state of --resume."""
import errno
import os

import numpy as np
import pytest

from tests.conftest import jt
from utils import checkpoint as ckpt
from utils.atomic import atomic_write, atomic_write_csv, atomic_write_text
from utils.errors import CheckpointError, OutputError


class Tiny(jt.nn.Module):
    def __init__(self, out=2):
        self.conv = jt.nn.Conv2d(1, out, 1)
        self.bn = jt.nn.BatchNorm2d(out)

    def execute(self, x):
        return self.bn(self.conv(x))


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "sub" / "result.json"
    atomic_write_text("old", str(target))

    def half_then_crash(tmp):
        open(tmp, "w").write("ne")
        raise OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(OutputError, match="result.json: the disk is full .*the earlier result.json is unchanged"):
        atomic_write(str(target), half_then_crash)
    assert target.read_text() == "old"
    assert os.listdir(target.parent) == ["result.json"]

    def interrupted(tmp):
        open(tmp, "w").write("ne")
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        atomic_write(str(target), interrupted)
    assert target.read_text() == "old" and os.listdir(target.parent) == ["result.json"]


def test_csv_formats(tmp_path):
    target = tmp_path / "log.csv"
    atomic_write_csv(str(target), [dict(epoch=1, loss=0.123456789, note="x", extra=5)], ["epoch", "loss", "note"],
                     float_format="{:.3g}", formats={"epoch": "{:03d}"})
    assert target.read_text().splitlines() == ["epoch,loss,note", "001,0.123,x"]


def test_weights_round_trip_with_metadata(tmp_path):
    jt.set_global_seed(0)
    a, b = Tiny(), Tiny()
    path = str(tmp_path / "w.pkl")
    ckpt.save_weights(a, path, {"model": "tiny", "epoch": 3})
    meta = ckpt.load_weights(b, path, expected_model="tiny")
    assert meta == {"model": "tiny", "epoch": 3} and ckpt.read_meta(path)["epoch"] == 3
    for k, v in a.state_dict().items():
        np.testing.assert_array_equal(b.state_dict()[k].numpy(), v.numpy())   # BatchNorm statistics too


def test_strict_loading_names_every_problem(tmp_path):
    path = str(tmp_path / "w.pkl")
    ckpt.save_weights(Tiny(out=3), path, {"model": "other", "n_classes": 3})
    with pytest.raises(CheckpointError) as e:
        ckpt.load_weights(Tiny(out=2), path, expected_model="tiny")
    text = str(e.value)
    assert "saved for model 'other'" in text and "it was trained with -c 3" not in text
    # six shapes differ: the first five (sorted) are listed, then the count of the rest
    assert "shape mismatches (6): bn.bias: file (3,) vs model (2,)" in text
    assert "conv.bias: file (3,) vs model (2,) ... and 1 more" in text
    state = ckpt.load_file(path)
    state["stray"] = np.zeros(1)
    del state["bn.weight"]
    ckpt.atomic_save(state, path)
    with pytest.raises(CheckpointError, match=r"missing keys \(1\): bn.weight(.|\n)*unexpected keys \(1\): stray"):
        ckpt.load_weights(Tiny(out=3), path)
    open(path, "wb").write(b"not a pickle")
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        ckpt.load_file(path)
    with pytest.raises(CheckpointError, match="not found"):
        ckpt.load_file(str(tmp_path / "absent.pkl"))


def test_optimizer_state_restores_the_next_step_exactly():
    def step(model, opt):
        x = jt.array(np.random.RandomState(1).rand(2, 1, 3, 3).astype(np.float32))
        opt.step((model(x) ** 2).mean())

    jt.set_global_seed(0)
    a = Tiny()
    opt_a = jt.nn.Adam(a.parameters(), 0.01)
    step(a, opt_a)
    saved_model, saved_opt = ckpt.model_state(a), ckpt.optimizer_state(opt_a)
    step(a, opt_a)
    b = Tiny()
    b.load_parameters(saved_model)
    opt_b = jt.nn.Adam(b.parameters(), 0.01)
    ckpt.load_optimizer_state(opt_b, saved_opt)
    step(b, opt_b)
    for k, v in a.state_dict().items():
        np.testing.assert_allclose(b.state_dict()[k].numpy(), v.numpy(), rtol=1e-6)
    with pytest.raises(CheckpointError, match="resume with the same -o"):
        ckpt.load_optimizer_state(jt.nn.SGD(b.parameters(), 0.1), saved_opt)
