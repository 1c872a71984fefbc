"""Data-parallel training under ``mpirun -np 2`` on the CPU (OpenMPI; root is allowed for the tests).

Why the losses must agree: with two ranks each computes half of every batch; BatchNorm statistics are
all-reduced (equal halves, so the synchronised mean and E[x^2] are the whole batch's), the reported loss is the
mean of the two halves' means (= the whole batch's mean), and gradients are averaged (= the whole batch's
gradient).  The runs therefore differ only in the order of floating-point sums: we allow 1e-4 relative.  The
probe steps with SGD, whose update is linear in the gradient; Adam divides by sqrt(v) and turns rounding-level
differences of near-zero gradients into updates of the size of the learning rate (3e-4 relative in the third
loss, measured), which would test Adam's sensitivity rather than the data parallelism.
"""
import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT

MPIRUN = shutil.which("mpirun")
pytestmark = pytest.mark.skipif(MPIRUN is None, reason="OpenMPI (mpirun) is not installed: `make setup` installs it "
                                                        "(Debian's openmpi-bin and libopenmpi-dev)")
PROBE = os.path.join(ROOT, "tests", "mpi", "probe.py")


def mpirun(args, cwd, n=2, timeout=900):
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    return subprocess.run([MPIRUN, "--oversubscribe", "-np", str(n), sys.executable] + [str(a) for a in args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_two_ranks_split_batches_stay_identical_and_match_one_process(tmp_path, demo_root):
    done = mpirun([PROBE, demo_root, tmp_path], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    single = subprocess.run([sys.executable, PROBE, demo_root, tmp_path], cwd=tmp_path, capture_output=True,
                            text=True, timeout=900, env=dict(os.environ))
    assert single.returncode == 0, single.stderr
    r0, r1, one = (json.load(open(tmp_path / f)) for f in ("rank0-of-2.json", "rank1-of-2.json", "rank0-of-1.json"))
    for a, b, whole in zip(r0["seen"], r1["seen"], one["seen"]):
        assert len(a) == len(b) == 2 and not set(a) & set(b), "each rank sees its own half of the batch"
        assert sorted(a + b) == sorted(whole), "together the ranks see the single process's batch"
    assert r0["params"] == r1["params"], "parameters identical on both ranks after the steps"
    assert r0["losses"] == r1["losses"]
    assert r0["losses"] == pytest.approx(one["losses"], rel=1e-4)


def test_run_py_under_mpirun_writes_one_set_of_outputs(tmp_path, demo_root):
    args = [os.path.join(ROOT, "run.py"), "--dataset", "demo", "--data-root", demo_root, "--mode", "train",
            "-e", "1", "-b", "8", "--img-size", "32"]
    done = mpirun(args, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("epoch 1/1") == 1 and "MPI: 2 processes; the global batch is 8" in done.stdout
    ckpts = sorted(os.listdir(tmp_path / "checkpoints" / "unet"))
    assert ckpts == ["unet-demo-Adam-ce-stnFalse-pretrainFalse-augFalse-last.pkl",
                     "unet-demo-Adam-ce-stnFalse-pretrainFalse-augFalse.pkl"]
    results = sorted(f for f in os.listdir(tmp_path / "result") if f.endswith(".json"))
    assert results == ["unet-demo-Adam-ce-1-train-stnFalse-pretrainFalse-augFalse.json"]
    log = open(tmp_path / "result" / "unet-demo-Adam-ce-stnFalse-pretrainFalse-augFalse-log.csv").read().splitlines()
    assert len(log) == 2
    overlays = os.listdir(tmp_path / "test_performance" / "unet-demo-Adam-ce-1-train-stnFalse-pretrainFalse-augFalse")
    assert len(overlays) == 12
    result = json.load(open(tmp_path / "result" / results[0]))
    assert result["n_images"] == 12, "the test split is evaluated once, whole"


def test_a_failing_rank_stops_the_job_with_a_message(tmp_path, demo_root):
    args = [os.path.join(ROOT, "run.py"), "--dataset", "demo", "--data-root", demo_root, "--mode", "train",
            "-e", "1", "--img-size", "40"]
    done = mpirun(args, tmp_path, timeout=600)
    assert done.returncode != 0
    assert "error: model 'unet' needs H and W to be multiples of 16" in done.stderr
