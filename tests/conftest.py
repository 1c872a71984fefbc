"""Shared fixtures. Jittor is configured for the CPU (utils.runtime.init) before any test module imports it:
pytest imports this file first. The project is installed (``pip install -e .``, scripts/setup.sh), so nothing
here edits ``sys.path``."""
import os

import numpy as np
import pytest

from dataset.demo import ensure_demo
from utils import runtime

os.environ["JMEDSEG_STDERR_FILTER"] = "0"  # pytest captures fd 2 itself
jt = runtime.init(cuda=False)

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
