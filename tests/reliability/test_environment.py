"""--cuda without a usable CUDA is one error line, not Jittor's traceback."""
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.skipif(not shutil.which("nvcc") or shutil.which("nvidia-smi"),
                    reason="this case needs a machine with nvcc but no GPU runtime (as the CPU reference machines)")
def test_cuda_without_its_runtime_is_one_error_line(tmp_path):
    done = subprocess.run([sys.executable, os.path.join(ROOT, "run.py"), "--mode", "debug", "--cuda"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr.startswith("error: --cuda was given but Jittor cannot load CUDA") and "Traceback" not in done.stderr
    assert "run without --cuda" in done.stderr
