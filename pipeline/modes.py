"""The mode table: the one list of ``run.py --mode`` choices, each with the function that runs it."""
from dataclasses import dataclass
from typing import Callable

from utils import distributed as dist
from utils.errors import ConfigError
from utils.registry import Registry

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


def run(args):
    """Check the flags, then run ``args.mode``; returns the exit status."""
    mode = MODES.get(args.mode, "--mode")
    if not args.dataset and (mode.needs_dataset or (args.mode == "predict" and not args.input)):
        raise ConfigError(f"--dataset is required in {args.mode} mode")
    check_run_flags(args)
    if not (mode.all_ranks or dist.is_main()):
        return 0  # under mpirun, test/predict/debug/robust run once, on rank 0
    return mode.run(args)
