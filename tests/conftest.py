"""Shared fixtures. Jittor is configured for the CPU (utils.runtime.init; CUDA only for tests/cuda, see below) before any test module imports it:
pytest imports this file first. The project is installed (``pip install -e .``, scripts/setup.sh), so nothing
here edits ``sys.path``."""
import os

import re

import numpy as np
import pytest
from PIL import Image

import run
from dataset.demo import ensure_demo
from utils import runtime

os.environ["JMEDSEG_STDERR_FILTER"] = "0"  # pytest captures fd 2 itself
# CPU, except for `make gpu-check`, which sets JMEDSEG_TEST_CUDA=1 to run tests/cuda (marker `cuda`) on a GPU
jt = runtime.init(cuda=os.environ.get("JMEDSEG_TEST_CUDA") == "1")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SHARED_DATA = os.path.join(os.path.dirname(ROOT), "shared", "data")


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory):
    """A data root holding the generated demo set (generated once per test session)."""
    root = tmp_path_factory.mktemp("data")
    ensure_demo(str(root), progress=False)
    return str(root)


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Run the test inside an empty folder (run.py writes checkpoints/, result/, test_performance/ there)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def shared_dataset(name):
    """Path of a dataset in ../shared/data, or skip the test when it is absent."""
    path = os.path.join(SHARED_DATA, name)
    if not os.path.isdir(path):
        pytest.skip(f"{path} is not available")
    return path


def random_batch(b, c, h, w, seed=0):
    return jt.array(np.random.RandomState(seed).rand(b, c, h, w).astype("float32"))


def folder_dataset(root, n=4, size=(32, 32), values=(0, 255)):
    """A folder dataset of ``n`` grey images (one square of foreground each) split train/train/val/test."""
    for sub in ("images", "masks"):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    rows = ["stem,split"]
    for i in range(n):
        Image.fromarray(np.full(size, 40 * i, np.uint8)).save(os.path.join(root, "images", f"s{i}.png"))
        m = np.full(size, values[0], np.uint8)
        m[4:12, 4:12] = values[1]
        Image.fromarray(m).save(os.path.join(root, "masks", f"s{i}.png"))
        rows.append(f"s{i},{['train', 'train', 'val', 'test'][i % 4]}")
    with open(os.path.join(root, "split.csv"), "w") as f:
        f.write("\n".join(rows) + "\n")
    return root


def expect_error(args, capsys, pattern, main=None):
    """Run ``run.main(args)`` (or ``main``) and check: exit status 2, one ``error:`` line matching ``pattern``,
    no traceback; returns the error text."""
    code = (main or run.main)([str(a) for a in args])
    out = capsys.readouterr()
    assert code == 2, out.out + out.err
    err = out.err.split("\r")[-1]  # after any progress bar
    assert err.startswith("error: "), out.err
    assert "Traceback" not in out.err
    assert re.search(pattern, err), out.err
    return err
