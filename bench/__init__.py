"""Benchmarks and the PyTorch ports used to compare against them."""
import os


def emit_table(text, out=None):
    """Print a benchmark's markdown table and, with ``out``, also write it to that file."""
    print(text)
    if out:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        with open(out, "w") as f:
            f.write(text + "\n")
