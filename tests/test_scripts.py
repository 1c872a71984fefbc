"""The original's scripts on this code: pretrain.sh -> train.sh -> batch_test.sh on demo data (slow)."""
import csv
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.slow
def test_scripts_train_and_test_the_zoo_and_write_the_benchmark_table(tmp_path, demo_root):
    env = dict(os.environ, PYTHON=sys.executable, DATASET="demo", MODELS="unet simple", EPOCHS="1", IMG_SIZE="32",
               LOSS="ce_0.5_dice_0.5", DATA_ROOT=demo_root, CUDA="", EXTRA="")
    for script, extra in (("pretrain.sh", {"EXTRA": "--queue-size 16"}), ("train.sh", {}), ("batch_test.sh", {})):
        done = subprocess.run(["bash", os.path.join(ROOT, script)], cwd=tmp_path, env={**env, **extra},
                              capture_output=True, text=True, timeout=3000)
        assert done.returncode == 0, f"{script}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    rows = list(csv.DictReader(open(tmp_path / "test_result" / "benchmark.csv")))
    assert sorted(r["config"] for r in rows) == sorted(
        ["unet", "simple", "unet+pretrain", "unet+stn+pretrain", "unet+aug+stn+pretrain"])
    assert (tmp_path / "test_result" / "benchmark.png").is_file()
    # LOSS reached both train.sh and batch_test.sh: the weights and results are named after it
    trained = [f for model in ("unet", "simple") for f in os.listdir(tmp_path / "checkpoints" / model)]
    assert trained and all("ce_0.5_dice_0.5" in f for f in trained), trained


@pytest.mark.slow
def test_distill_script_compares_the_student_alone_with_each_method(tmp_path, demo_root):
    env = dict(os.environ, PYTHON=sys.executable, DATASET="demo", STUDENT="simple", TEACHER="unet", METHODS="kd at",
               SEEDS="0", EPOCHS="1", TEACHER_EPOCHS="1", IMG_SIZE="32", DATA_ROOT=demo_root, CUDA="", EXTRA="")
    done = subprocess.run(["bash", os.path.join(ROOT, "distill.sh")], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=3000)
    assert done.returncode == 0, f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    assert len(os.listdir(tmp_path / "checkpoints" / "unet")) >= 1        # the teacher, trained first
    students = os.listdir(tmp_path / "seed0" / "checkpoints" / "simple")
    for method in ("kd", "at"):
        assert any(f.endswith(f"-{method}-from-unet.pkl") for f in students), students
    report = (tmp_path / "distill_result" / "report.md").read_text()
    assert "Knowledge distillation: simple from unet on demo" in report
    table = [line for line in report.splitlines() if line.startswith("| simple")]
    assert len(table) >= 3, report   # the student alone, with kd, with at
