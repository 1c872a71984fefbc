"""Benchmarks and the PyTorch ports used to compare against them."""
import os
import statistics
import time


def emit_table(text, out=None):
    """Print a benchmark's markdown table and, with ``out``, also write it to that file."""
    print(text)
    if out:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        with open(out, "w") as f:
            f.write(text + "\n")


def time_calls(fn, repeats, warmup=0):
    """Call ``fn`` ``warmup`` times untimed, then ``repeats`` times timed; the list of seconds per call."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def median_seconds(fn, repeats, warmup=0):
    """The median of :func:`time_calls`."""
    return statistics.median(time_calls(fn, repeats, warmup))
