"""utils.runtime: nothing configured on import, the environment init() sets, oneDNN linking, CUDA errors, the
compile-line filter."""
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, jt
from utils import runtime


def test_cpu_by_default_with_nvcc_disabled():
    assert os.environ.get("nvcc_path") == ""
    assert jt.flags.use_cuda == 0
    assert "on CPU" in runtime.describe()


def test_asking_for_cuda_without_a_gpu_is_a_clear_error():
    with pytest.raises(runtime.RuntimeSetupError, match="--cuda"):
        runtime.init(cuda=True)
    assert jt.flags.use_cuda == 0


@pytest.mark.skipif(not os.path.exists(runtime._SYSTEM_DNNL_INCLUDE), reason="libdnnl-dev is not installed")
def test_ensure_onednn_links_the_system_library_idempotently(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert runtime.onednn_dir() is None
    first = runtime.ensure_onednn()
    assert first and os.path.islink(os.path.join(first, "include"))
    assert os.path.realpath(os.path.join(first, "lib", "libmkldnn.so")).endswith(".so.2") or \
        "libdnnl.so" in os.path.realpath(os.path.join(first, "lib", "libmkldnn.so"))
    assert runtime.ensure_onednn() == first


def test_describe_reports_onednn_exactly_when_jittor_will_use_it(monkeypatch):
    monkeypatch.delenv("use_mkl", raising=False)
    monkeypatch.setattr(runtime, "onednn_dir", lambda: "/somewhere/dnnl")
    assert "oneDNN on" in runtime.describe()
    monkeypatch.setenv("use_mkl", "0")
    assert "oneDNN OFF (slow convolutions)" in runtime.describe()
    monkeypatch.delenv("use_mkl")
    monkeypatch.setattr(runtime, "onednn_dir", lambda: None)
    assert "oneDNN OFF" in runtime.describe()


def test_without_onednn_jittor_is_told_not_to_download_it(monkeypatch):
    """No oneDNN to link: ``use_mkl=0`` (Jittor would otherwise try to download it) and a warning saying so."""
    monkeypatch.delenv("use_mkl", raising=False)
    monkeypatch.setattr(runtime, "ensure_onednn", lambda: None)
    monkeypatch.setattr(runtime, "_state", dict(runtime._state))
    with pytest.warns(RuntimeWarning, match="libdnnl-dev"):
        runtime._apply_environment(cuda=False, verbose=False)
    assert os.environ["use_mkl"] == "0" and os.environ["nvcc_path"] == ""


def test_nothing_is_configured_on_import():
    """Importing utils.runtime sets no environment variable and links nothing: init() does, when called."""
    script = ("import os\nbefore = dict(os.environ)\nfrom utils import runtime\n"
              "assert dict(os.environ) == before, set(os.environ) ^ set(before)\n"
              "assert runtime._state['cuda'] is None\nprint('clean')")
    env = {k: v for k, v in os.environ.items() if k not in ("nvcc_path", "use_mkl", "log_silent")}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "clean", done.stderr


def test_compile_progress_lines_are_filtered_from_stderr(tmp_path):
    """A child process with the filter on: Jittor-style progress lines vanish, everything else passes."""
    script = (
        "import os, sys\n"
        "from utils import runtime\n"
        "runtime.init()\n"
        "os.write(2, b'before\\n')\n"
        "os.write(2, b'\\nCompiling Operators(1/3) used: 2.1s eta: 4s \\rCompiling Operators(3/3) used: 3s eta: 0s \\r\\n')\n"
        "os.write(2, b'progress 50%\\rprogress 100%\\n')\n"
        "print('error: kept', file=sys.stderr)\n"
    )
    env = dict(os.environ)
    env.pop("JMEDSEG_STDERR_FILTER", None)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, timeout=300)
    err = done.stderr.decode()
    assert done.returncode == 0, err
    assert "Compiling Operators" not in err
    assert err == "before\nprogress 50%\rprogress 100%\nerror: kept\n"


def test_a_child_killed_by_a_signal_does_not_end_this_process():
    """Jittor's SIGCHLD handler would end the parent; utils.runtime.init restores the default."""
    import signal
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    child.send_signal(signal.SIGKILL)
    assert child.wait() == -signal.SIGKILL
    assert signal.getsignal(signal.SIGCHLD) == signal.SIG_DFL
