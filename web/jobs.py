"""Training and testing from the web page: ``run.py`` in its own process, one at a time.

The command line validates the settings: its ``error:`` lines and exit status 2 reach the page as they are.
Progress is read from what the run writes: its epoch log (``{resultdir}/{tag}-log.csv``), its output lines, and
at the end its result JSON. The form's values are passed as ``--flag=value`` arguments (no shell, and a value
can never be read as another flag).
"""
import contextlib
import csv
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque

import run as run_cli
from advance.augment import parse_geometric
from pipeline import catalog
from pipeline.outputs import SUMMARY_KEYS, RunPaths
from utils.errors import UserError

RUN_PY = os.path.abspath(run_cli.__file__)
MODES = ("train", "test")
# form field (run.py's dest) -> run.py flag with a value; checkboxes -> flags without one
VALUE_FLAGS = {"model": "--model", "dataset": "--dataset", "data_root": "--data-root", "epochs": "--epochs",
               "batch_size": "--batch-size", "lr": "--learning-rate", "loss": "--loss", "class_num": "--class-num",
               "img_size": "--img-size", "optimizer": "--optimizer", "seed": "--seed"}
SWITCHES = {"aug": "--aug", "stn": "--stn", "overwrite": "--overwrite", "resume": "--resume"}
CHECKED = ("1", "on", "true", "yes")


class Busy(UserError):
    """A run is already in progress."""


def form_argv(form):
    """run.py's arguments from the form's fields (``form.get(name)``); empty fields keep run.py's defaults."""
    mode = (form.get("mode") or "train").strip()
    if mode not in MODES:
        raise UserError(f"mode must be one of {', '.join(MODES)}, got {mode[:40]!r}")
    argv = [f"--mode={mode}"]
    for field, flag in VALUE_FLAGS.items():
        value = (form.get(field) or "").strip()
        if value:
            argv.append(f"{flag}={value}")
    argv += [flag for field, flag in SWITCHES.items() if (form.get(field) or "").strip().lower() in CHECKED]
    return argv


def form_defaults():
    """What the form starts with: run.py's own defaults, and the registries' choices."""
    parser = run_cli.build_parser(catalog)
    values = {field: parser.get_default(field) for field in VALUE_FLAGS}  # the fields are run.py's dests
    values["dataset"] = "demo"
    return dict(fields=values, models=catalog.MODELS.names(), datasets=catalog.DATASETS.names(),
                losses=catalog.LOSSES.names(), optimizers=catalog.OPTIMIZERS.names(sort=False))


def run_paths(argv):
    """The output paths of a run.py command line (parsed by run.py's own parser), or None when it does not
    parse (run.py then says why)."""
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            args = run_cli.build_parser(catalog).parse_args(argv)
        args.geo_parts = parse_geometric(args.geo_aug)
        return args, RunPaths(args)
    except (SystemExit, UserError):
        return None, None


class Job:
    """One run.py process; its output lines are collected by a thread as they come."""

    def __init__(self, argv, workdir):
        self.argv, self.workdir = list(argv), workdir
        self.args, self.paths = run_paths(self.argv)
        self.started = time.time()
        self.finished = None
        self.lines = deque(maxlen=300)
        self._partial = ""
        self._lines_lock = threading.Lock()  # the reader adds lines while requests read them
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen([sys.executable, RUN_PY, *self.argv], cwd=workdir, env=env,
                                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        self._reader = threading.Thread(target=self._read, name="run.py output", daemon=True)
        self._reader.start()

    def _read(self):
        buf = b""
        for chunk in iter(lambda: self.process.stdout.read1(4096), b""):
            buf += chunk
            *done, buf = buf.replace(b"\r", b"\n").split(b"\n")
            for line in done:
                self._add(line.decode("utf-8", "replace").rstrip())
            self._partial = buf.decode("utf-8", "replace")
        self._add(buf.decode("utf-8", "replace").rstrip())
        self._partial = ""
        self.process.wait()
        self.finished = time.time()

    def _add(self, text):
        """Keep a line; a progress bar's new state replaces its previous one."""
        if not text.strip():
            return
        with self._lines_lock:
            last = self.lines[-1] if self.lines else ""
            if "%|" in text and "%|" in last and text.split(":")[0] == last.split(":")[0]:
                self.lines[-1] = text
            else:
                self.lines.append(text)

    def output(self):
        with self._lines_lock:
            return list(self.lines)

    @property
    def running(self):
        return self.finished is None

    def stop(self):
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)

    def _fresh(self, path):
        """``path`` under the working folder if this run wrote it (not an earlier run's file)."""
        full = os.path.join(self.workdir, path)
        return full if os.path.isfile(full) and os.path.getmtime(full) >= self.started - 1 else None

    def progress(self):
        """The epoch log's rows written by this run: epoch, loss, validation metrics, seconds."""
        log = self.paths and self.args.mode == "train" and self._fresh(self.paths.log)
        if not log:
            return []
        try:
            with open(log, newline="") as f:
                return [{k: _num(v) for k, v in row.items()} for row in csv.DictReader(f)]
        except (OSError, csv.Error):
            return []

    def result(self):
        """The summary metrics of the result JSON this run wrote (None before the end)."""
        path = not self.running and self.process.returncode == 0 and self.paths and self._fresh(self.paths.result)
        if not path:
            return None
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, ValueError):
            return None
        return {k: data.get(k) for k in SUMMARY_KEYS + ("n_images", "infer_ms_per_image") if k in data}

    def errors(self):
        """run.py's ``error:`` lines (with the indented lines that continue them)."""
        out, inside = [], False
        for line in self.output():
            if line.startswith(("error:", "run.py: error:")):  # the library's, and argparse's
                out.append(line)
                inside = True
            elif inside and line.startswith(" "):
                out.append(line)
            else:
                inside = False
        return out

    def status(self):
        code = None if self.running else self.process.returncode
        return dict(running=self.running, returncode=code, command=" ".join(["python run.py", *self.argv]),
                    mode=self.args.mode if self.args else None, epochs=self.args.epochs if self.args else None,
                    tag=self.paths.tag if self.paths else None, started=self.started, finished=self.finished,
                    seconds=round((self.finished or time.time()) - self.started, 1), progress=self.progress(),
                    lines=self.output()[-40:] + ([self._partial] if self._partial.strip() else []),
                    errors=self.errors(), result=self.result())


def _num(text):
    try:
        return float(text) if any(c in text for c in ".eE") else int(text)
    except (TypeError, ValueError):
        return text


class Runner:
    """At most one :class:`Job` at a time, in ``workdir`` (where its checkpoints and results go)."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.job = None
        self._lock = threading.Lock()

    def start(self, argv):
        with self._lock:
            if self.job is not None and self.job.running:
                raise Busy(f"a run is in progress ({self.job.status()['command']}); one at a time: wait for it "
                           "to finish or stop it")
            self.job = Job(argv, self.workdir)
            return self.job

    def status(self):
        return self.job.status() if self.job else dict(running=False, returncode=None, command=None)
