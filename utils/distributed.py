"""Multi-process (MPI) training helpers on Jittor's own MPI backend.

Run any command under ``mpirun -np N`` (OpenMPI); Jittor then:

* gives each rank its part of every training batch (``jittor.dataset.Dataset``): ``-b`` stays the **global**
  batch size, each rank computes ``-b / N`` samples;
* averages the gradients over ranks in ``optimizer.step`` (all-reduce mean), so the update equals a single
  process's update on the whole batch; the learning rate is not scaled;
* synchronises BatchNorm batch statistics over ranks (``nn.BatchNorm(sync=True)``, Jittor's default).

This module adds what the library needs on top: one place that knows the rank, parameter broadcast at start,
averaging of scalars (the epoch loss), and the rule that only rank 0 evaluates and writes files.
"""
import os
import sys

import numpy as np

import jittor as jt


def in_mpi():
    return bool(jt.in_mpi)


def rank():
    return int(jt.rank) if jt.in_mpi else 0


def world_size():
    return int(jt.world_size) if jt.in_mpi else 1


def is_main():
    """True on rank 0 (or without MPI): the process that evaluates and writes outputs."""
    return rank() == 0


def broadcast_parameters(model):
    """Copy rank 0's variables (weights and BatchNorm statistics) to every rank."""
    if in_mpi():
        model.mpi_param_broadcast(0)
        jt.sync_all(True)


def mean_over_ranks(value):
    """The mean of a Python float over all ranks (the value itself without MPI)."""
    if not in_mpi():
        return float(value)
    return float(jt.array(np.array([value], np.float64)).mpi_all_reduce("mean").numpy()[0])


def barrier():
    """Wait until every rank arrives (an all-reduce of one number)."""
    mean_over_ranks(0.0)


def fail(message, code=2):
    """Print ``message`` and end this process at once.

    Under MPI a plain ``sys.exit`` finalises MPI and leaves the other ranks waiting in a collective forever;
    ``os._exit`` with a non-zero status makes ``mpirun`` stop the whole job instead.
    """
    prefix = f"[rank {rank()}] " if in_mpi() else ""
    print(f"{prefix}{message}", file=sys.stderr, flush=True)
    if in_mpi():
        sys.stdout.flush()
        os._exit(code)
    return code
