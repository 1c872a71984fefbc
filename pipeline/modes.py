"""The mode table: the one list of ``run.py --mode`` choices, each with the function that runs it."""
from dataclasses import dataclass
from typing import Callable

from utils import distributed as dist
from utils.errors import ConfigError
from utils.registry import Registry

from .distill import distill
from .evaluate import debug, robust, test
from .predict import predict
from .setup import check_run_flags
from .train import train


@dataclass(frozen=True)
class Mode:
    name: str
    run: Callable                # run(args) -> exit status
    needs_dataset: bool
    all_ranks: bool              # under mpirun: every rank runs it (training); otherwise rank 0 alone
    description: str


MODES = Registry("mode")
MODES.add("train", Mode("train", train, True, True, "train, keep the best validation weights, test them"))
MODES.add("test", Mode("test", test, True, False, "metrics, per-case Dice and overlays of the test split"))
MODES.add("predict", Mode("predict", predict, False, False,
                          "masks and overlays of the test split, a folder of images or NIfTI volumes"))
MODES.add("debug", Mode("debug", debug, False, False, "output shape and parameter counts of a network"))
MODES.add("robust", Mode("robust", robust, True, False, "test-split metrics under perturbations"))
MODES.add("distill", Mode("distill", distill, True, True,
                          "train --model beside a frozen --teacher with the --kd methods, then test it"))

# Distillation flags: all of them in distill mode; --kd and --teacher also in test/predict/robust, where they
# name the distilled configuration (its checkpoint and result files) and nothing else.
DISTILL_FLAGS = {"teacher": "--teacher", "teacher_load": "--teacher-load", "kd": "--kd",
                 "kd_weight": "--kd-weight", "kd_tau": "--kd-tau", "kd_layers": "--kd-layers"}
NAMING_FLAGS = ("teacher", "kd")


def check_distill_use(args):
    """Refuse distillation flags outside distill mode (a run would silently ignore them)."""
    if args.mode == "distill":
        return
    given = [key for key in DISTILL_FLAGS if getattr(args, key, None) not in (None, "")]
    naming = args.mode in ("test", "predict", "robust")
    stray = [DISTILL_FLAGS[k] for k in given if not (naming and k in NAMING_FLAGS)]
    if stray:
        where = "--mode distill" + (" (test, predict and robust take --kd and --teacher to find a distilled "
                                    "student's files)" if naming else "")
        raise ConfigError(f"{', '.join(stray)} {'is a flag' if len(stray) == 1 else 'are flags'} of {where}")
    if naming and len([k for k in NAMING_FLAGS if k in given]) == 1:
        raise ConfigError("--kd and --teacher name a distilled student's files together: give both, or neither")


def run(args):
    """Check the flags, then run ``args.mode``; returns the exit status."""
    mode = MODES.get(args.mode, "--mode")
    if not args.dataset and (mode.needs_dataset or (args.mode == "predict" and not args.input)):
        raise ConfigError(f"--dataset is required in {args.mode} mode")
    check_run_flags(args)
    check_distill_use(args)
    if not (mode.all_ranks or dist.is_main()):
        return 0  # under mpirun, test/predict/debug/robust run once, on rank 0
    return mode.run(args)
