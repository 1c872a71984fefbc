"""The one place that configures Jittor.

Jittor reads its configuration from environment variables when it is first imported, so everything here has
to happen before ``import jittor``.  Nothing happens on import of this module: every program calls
:func:`init` once at its start, before it imports any module that imports Jittor (``run.py``, ``run_ssl.py``,
``python -m pipeline``, the benchmark scripts and the tests' ``conftest.py`` do).  A Python session using the
library does the same::

    from utils import runtime
    jt = runtime.init()              # CPU; runtime.init(cuda=True) for the GPU
    from model import create_model   # now Jittor may be imported

What :func:`init` decides:

* CPU by default: ``nvcc_path=""`` stops Jittor from probing an nvcc that may be installed without a CUDA
  runtime.  ``--cuda`` (``configure(cuda=True)`` or ``JMEDSEG_CUDA=1``) leaves CUDA detection on.
* oneDNN: Jittor 1.3.11 looks for oneDNN only under ``~/.cache/jittor/mkl/dnnl*/`` and otherwise downloads it
  from a server that may be unreachable.  :func:`ensure_onednn` links Debian's ``libdnnl-dev`` there; when it
  is not installed we fall back to ``use_mkl=0`` with a warning (convolutions are then ~75x slower).
* Jittor's info logs and compiler progress lines are hidden unless verbose (``-v`` or ``JMEDSEG_VERBOSE=1``).

Without arguments, :func:`init` reads ``JMEDSEG_CUDA`` and ``JMEDSEG_VERBOSE`` (``1`` = on).

``prepare()`` readies a machine (links oneDNN, compiles Jittor's core) and prints a summary; ``make setup`` runs it.
"""
import argparse
import atexit
import glob
import os
import select
import signal
import sys
import threading
import warnings

from utils.errors import UserError

# Where Jittor 1.3.11 looks for oneDNN (compile_extern.install_mkl): <home>/.cache/jittor/mkl/<name>/{include,lib}.
_DNNL_DIRNAME = "dnnl_lnx_2.2.0_cpu_gomp"
# Debian's libdnnl-dev (oneDNN 2.6.x) is ABI-compatible with what Jittor's mkl ops need.
_SYSTEM_DNNL_INCLUDE = "/usr/include/oneapi/dnnl"
_SYSTEM_DNNL_LIB_GLOB = "/usr/lib/*-linux-gnu/libdnnl.so.2"

_state = {"cuda": None, "verbose": None}


class RuntimeSetupError(UserError):
    """Jittor cannot be configured as asked (e.g. ``--cuda`` without a usable GPU)."""


def _jittor_home():
    return os.path.join(os.path.expanduser("~"), ".cache", "jittor", "mkl")


def onednn_dir():
    """The oneDNN folder Jittor will use, or None when there is none."""
    for path in sorted(glob.glob(os.path.join(_jittor_home(), "dnnl*"))):
        if os.path.isfile(os.path.join(path, "lib", "libmkldnn.so")) and \
                os.path.isfile(os.path.join(path, "include", "dnnl.hpp")):
            return path
    return None


def ensure_onednn():
    """Make oneDNN available to Jittor without a download; return its folder or None.

    Idempotent: an existing, complete folder is kept; otherwise the system's libdnnl (Debian ``libdnnl-dev``)
    is linked into Jittor's cache as ``include -> /usr/include/oneapi/dnnl`` and
    ``lib/libmkldnn.so -> libdnnl.so.2``.
    """
    found = onednn_dir()
    if found:
        return found
    libs = sorted(glob.glob(_SYSTEM_DNNL_LIB_GLOB))
    if not libs or not os.path.isfile(os.path.join(_SYSTEM_DNNL_INCLUDE, "dnnl.hpp")):
        return None
    target = os.path.join(_jittor_home(), _DNNL_DIRNAME)
    os.makedirs(os.path.join(target, "lib"), exist_ok=True)
    include = os.path.join(target, "include")
    if os.path.islink(include) or os.path.exists(include):
        if os.path.realpath(include) != os.path.realpath(_SYSTEM_DNNL_INCLUDE):
            return None  # someone else's folder: leave it alone
    else:
        os.symlink(_SYSTEM_DNNL_INCLUDE, include)
    lib = os.path.join(target, "lib", "libmkldnn.so")
    if not os.path.exists(lib):
        if os.path.islink(lib):
            os.unlink(lib)  # dangling link
        os.symlink(libs[0], lib)
    return onednn_dir()


def _apply_environment(cuda, verbose):
    """Set the environment variables Jittor reads at import time."""
    if cuda:
        if os.environ.get("nvcc_path") == "":
            del os.environ["nvcc_path"]
    else:
        os.environ["nvcc_path"] = ""
    if verbose:
        os.environ.pop("log_silent", None)
    else:
        os.environ["log_silent"] = "1"
    if os.environ.get("use_mkl") != "0" and ensure_onednn() is None:
        os.environ["use_mkl"] = "0"
        warnings.warn(
            "oneDNN not found: Jittor convolutions will run without it (about 75x slower on CPU). "
            "Install Debian's libdnnl-dev (sudo apt-get install libdnnl-dev) and run `make setup`.",
            RuntimeWarning, stacklevel=3)
    _state["cuda"], _state["verbose"] = bool(cuda), bool(verbose)


def configure(cuda=False, verbose=False):
    """Choose CPU/CUDA and log verbosity; call before anything imports jittor.

    When jittor is already imported, only the verbosity can still change; asking for CUDA then is an error
    unless Jittor was imported with CUDA detection on.
    """
    if "jittor" not in sys.modules:
        _apply_environment(cuda, verbose)
        return
    if _state["cuda"] is None:
        warnings.warn("Jittor was imported before utils.runtime.init(): its CUDA probing and oneDNN set-up were "
                      "not configured. Call runtime.init() before importing the library's packages.",
                      RuntimeWarning, stacklevel=3)
    import jittor as jt
    jt.flags.log_silent = 0 if verbose else 1
    _state["verbose"] = bool(verbose)
    _state["cuda"] = bool(cuda)


class _CompileLineFilter:
    """Drops Jittor's "Compiling Operators(i/n) ..." progress lines from the process's stderr.

    Jittor's C++ core writes them straight to file descriptor 2 whatever its log level, so they can only be
    hidden below Python: fd 2 is replaced by a pipe whose reader thread copies everything else to the real
    stderr.  Partial lines (progress bars) are passed on after 0.1 s of quiet.
    """
    MARK = "Compiling Operators("

    def __init__(self):
        self.real = os.dup(2)
        self.read_fd, write_fd = os.pipe()
        sys.stderr.flush()
        os.dup2(write_fd, 2)
        os.close(write_fd)
        self.pending_newline = False
        self.dropped = False
        self.thread = threading.Thread(target=self._pump, name="stderr-filter", daemon=True)
        self.thread.start()
        atexit.register(self.close)

    def _emit(self, text):
        data = text.encode("utf-8", "replace")
        while data:
            try:
                data = data[os.write(self.real, data):]
            except OSError:
                return

    def _segment(self, content, delim):
        if content.lstrip().startswith(self.MARK):
            self.pending_newline = False
            self.dropped = True
            return
        if content == "" and delim == "\n":
            if self.dropped:
                self.dropped = False
            elif self.pending_newline:
                self._emit("\n")
            else:
                self.pending_newline = True
            return
        if self.pending_newline:
            self._emit("\n")
            self.pending_newline = False
        self.dropped = False
        self._emit(content + delim)

    def _could_be_mark(self, partial):
        head = partial.lstrip()
        return head.startswith(self.MARK) or self.MARK.startswith(head)

    def _pump(self):
        buf = ""
        while True:
            ready, _, _ = select.select([self.read_fd], [], [], 0.1)
            if not ready:
                if buf and not self._could_be_mark(buf):
                    self._segment(buf, "")
                    buf = ""
                continue
            chunk = os.read(self.read_fd, 65536)
            if not chunk:
                break
            buf += chunk.decode("utf-8", "replace")
            start = 0
            for i, ch in enumerate(buf):
                if ch in "\r\n":
                    self._segment(buf[start:i], ch)
                    start = i + 1
            buf = buf[start:]
        if buf and not self._could_be_mark(buf):
            self._segment(buf, "")
        if self.pending_newline:
            self._emit("\n")

    def close(self):
        """Restore the real stderr and let the reader drain the pipe."""
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(self.real, 2)  # the pipe's last writer closes: the reader sees EOF
        self.thread.join(timeout=2.0)


_filter = None


def init(cuda=None, verbose=None):
    """Configure (if not done yet), import Jittor, select the device and return the ``jittor`` module.

    ``cuda``/``verbose`` default to the environment (``JMEDSEG_CUDA``, ``JMEDSEG_VERBOSE``).

    Unless ``verbose`` (or ``JMEDSEG_STDERR_FILTER=0``, which the test suite sets because pytest captures
    file descriptors itself), Jittor's compile-progress lines are filtered out of stderr.
    """
    global _filter
    cuda = _env_default("JMEDSEG_CUDA") if cuda is None else cuda
    verbose = _env_default("JMEDSEG_VERBOSE") if verbose is None else verbose
    # Jittor's kernels are built with -ffast-math, which sets flush-to-zero on the CPU; NumPy then warns once
    # per float type that "the value of the smallest subnormal is zero". The warning carries no information.
    warnings.filterwarnings("ignore", message="The value of the smallest subnormal", category=UserWarning)
    configure(cuda=cuda, verbose=verbose)
    if not verbose and _filter is None and os.name == "posix" and os.environ.get("JMEDSEG_STDERR_FILTER") != "0":
        _filter = _CompileLineFilter()
    try:
        import jittor as jt
    except OSError as e:  # an nvcc whose CUDA runtime (libcudart.so) is missing: Jittor's import fails
        if not cuda:
            raise
        raise RuntimeSetupError(
            f"--cuda was given but Jittor cannot load CUDA: {str(e).splitlines()[0]}. Install the CUDA runtime "
            "that matches nvcc (nvidia-smi should list the GPU), or run without --cuda on the CPU.") from None
    _restore_sigchld()
    if cuda:
        if not jt.has_cuda:
            raise RuntimeSetupError(
                "--cuda was given but Jittor found no usable CUDA (jt.has_cuda is False). "
                "Check that nvcc and the NVIDIA driver work (nvidia-smi), or run without --cuda on the CPU.")
        jt.flags.use_cuda = 1
    else:
        jt.flags.use_cuda = 0
    return jt


def init_from_argv(argv):
    """:func:`init` with the ``--cuda`` and ``-v/--verbose`` flags found in ``argv`` (a command line's own
    parser comes later: it needs the registries, which import Jittor)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--cuda", action="store_true")
    pre.add_argument("-v", "--verbose", action="store_true")
    known, _ = pre.parse_known_args(argv)
    return init(cuda=known.cuda or None, verbose=known.verbose or None)


def _restore_sigchld():
    """Undo Jittor's SIGCHLD handler.

    Jittor's core installs one that ends the whole process ("Caught SIGCHLD ... quick exit") whenever any child
    process dies of a signal; it exists for Jittor's own data-loader workers, which this library does not use
    (``num_workers=0``).  Left in place it kills a program whose subprocess (a benchmark child, ``mpirun``, a
    test's training run stopped with ``kill -9``) ends abnormally.
    """
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    except (ValueError, AttributeError, OSError):  # not the main thread, or no SIGCHLD on this platform
        pass


def cpu_ops():
    """True when the library's multi-threaded CPU operators replace Jittor's single-threaded ones (model/ops,
    utils.optim.FastAdam): on the CPU, unless ``JMEDSEG_CPU_OPS=0``."""
    import jittor as jt
    return os.environ.get("JMEDSEG_CPU_OPS", "1") != "0" and not jt.flags.use_cuda


def describe():
    """One line saying what Jittor runs on."""
    import jittor as jt
    mkl = os.environ.get("use_mkl") != "0" and onednn_dir() is not None
    device = "CUDA" if jt.flags.use_cuda else "CPU"
    extra = ", multi-threaded CPU operators " + ("on" if cpu_ops() else "off") if not jt.flags.use_cuda else ""
    return f"Jittor {jt.__version__} on {device}, oneDNN {'on' if mkl else 'OFF (slow convolutions)'}{extra}"


def _env_default(name):
    return os.environ.get(name, "0") not in ("", "0", "false", "False")


def prepare():
    """Link oneDNN, compile Jittor's core and one convolution, print a summary (scripts/setup.sh calls this)."""
    jt = init(cuda=False)
    x = jt.ones((1, 3, 16, 16))
    y = jt.nn.Conv2d(3, 4, 3, padding=1)(x)
    y.sync()
    print(describe())
    if onednn_dir():
        print(f"oneDNN: {onednn_dir()}")

