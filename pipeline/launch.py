"""The start of run.py and run_ssl.py: configure Jittor from ``--cuda``/``-v``, then import the pipeline and
run it. This module imports no Jittor itself, so the entry points can import it first."""
import importlib
import sys

from utils import runtime
from utils.errors import UserError


def add_runtime_flags(parser):
    """The flags :func:`launch` reads before Jittor is imported (every entry point has them)."""
    parser.add_argument("--cuda", action="store_true", help="run on the GPU")
    parser.add_argument("-v", "--verbose", action="store_true", help="show Jittor's own log lines")
    return parser


def launch(argv, build_parser, runner):
    """Configure Jittor, parse ``argv`` with ``build_parser(catalog)`` and call ``runner`` (``"module:function"``
    of the pipeline) on the flags; returns the exit status (2 with one ``error:`` line for a user error)."""
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    try:
        runtime.init_from_argv(argv)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    # Jittor is configured: the pipeline, which imports it, may be imported now (and only now).
    catalog = importlib.import_module("pipeline.catalog")
    cli = importlib.import_module("pipeline.cli")
    module, function = runner.split(":")
    run = getattr(importlib.import_module(module), function)
    return cli.main(lambda: build_parser(catalog), run, argv)
