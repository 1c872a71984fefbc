"""GPU checks (marker ``cuda``; ``make gpu-check`` runs them with ``JMEDSEG_TEST_CUDA=1``, the default suite
deselects them): every registered model's forward and backward on CUDA, its GPU outputs against the CPU's with
the same weights, a two-epoch demo run with ``--cuda``, and two MPI ranks when the machine has two GPUs.

Without CUDA every test here is skipped: the default tests never depend on a GPU.
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT, jt
from model import create_model, list_models, model_info

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not jt.flags.use_cuda, reason="CUDA checks: JMEDSEG_TEST_CUDA=1 on a GPU machine")]

MODELS = [m for m in os.environ.get("JMEDSEG_GPU_MODELS", "").split(",") if m] or list_models()


def _gpu_count():
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(line.startswith("GPU ") for line in out.splitlines())


@pytest.mark.parametrize("name", MODELS)
def test_forward_backward_on_cuda_and_outputs_match_the_cpu(name):
    size = model_info(name).test_size
    jt.set_global_seed(0)
    model = create_model(name, in_channels=3, n_classes=3)
    x = np.random.RandomState(0).rand(2, 3, size, size).astype(np.float32)
    labels = jt.array(np.random.RandomState(1).randint(0, 3, (2, size, size)).astype(np.int32))

    jt.flags.use_cuda = 1
    model.train()
    out = model(jt.array(x))
    out = out[0] if isinstance(out, (list, tuple)) else out
    assert tuple(out.shape) == (2, 3, size, size)
    grads = jt.grad(jt.nn.cross_entropy_loss(out, labels), model.parameters())
    assert all(np.isfinite(g.numpy()).all() for g in grads)
    assert sum(float(np.abs(g.numpy()).sum()) > 0 for g in grads) > 0.9 * len(grads)

    model.eval()
    with jt.no_grad():
        gpu = model(jt.array(x)).numpy()
    jt.flags.use_cuda = 0
    try:
        with jt.no_grad():
            cpu = model(jt.array(x)).numpy()
    finally:
        jt.flags.use_cuda = 1
    scale = max(float(np.abs(cpu).max()), 1.0)
    assert np.abs(gpu - cpu).max() <= 2e-3 * scale, f"{name}: GPU and CPU logits differ"


def _run(args, cwd, launcher=()):
    env = dict(os.environ, JMEDSEG_STDERR_FILTER="0", OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    return subprocess.run(list(launcher) + [sys.executable, os.path.join(ROOT, "run.py")] + args, cwd=cwd,
                          capture_output=True, text=True, env=env, timeout=600)


def test_two_epoch_demo_run_on_cuda(tmp_path, demo_root):
    common = ["--model", "unet", "--dataset", "demo", "--data-root", demo_root, "--img-size", "64", "-e", "2",
              "-b", "4", "-l", "1e-3", "--cuda"]
    done = _run(common + ["--mode", "train"], tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads(next((tmp_path / "result").glob("*-train-*.json")).read_text())
    assert "CUDA" in result["run"]["device"]
    assert result["dice_fg"] > 0.3, f"two epochs on the GPU learned nothing: {result['dice_fg']:.3f}"
    done = _run(common + ["--mode", "test"], tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


@pytest.mark.skipif(_gpu_count() < 2 or shutil.which("mpirun") is None, reason="MPI on CUDA needs two GPUs")
def test_two_mpi_ranks_on_two_gpus(tmp_path, demo_root):
    done = _run(["--model", "unet", "--dataset", "demo", "--data-root", demo_root, "--img-size", "64", "-e", "1",
                 "-b", "4", "--cuda", "--mode", "train"], tmp_path,
                launcher=(shutil.which("mpirun"), "--oversubscribe", "-np", "2"))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "MPI: 2 processes" in done.stdout
