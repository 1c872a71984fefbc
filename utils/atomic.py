"""Atomic file writes: a temporary file in the target's folder, flushed to disk, then renamed over the target.

A crash (even ``kill -9``) leaves either the old file or the new one, never a truncated one. Checkpoints,
the resume state, result JSON, logs and tables are all written through :func:`atomic_write`.
"""
import csv
import io
import os
import tempfile


def atomic_write(path, write):
    """Create ``path`` atomically: ``write(tmp_path)`` fills a temporary file, which then replaces ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=folder)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(text, path):
    """Write a text file atomically (results JSON, logs rewritten on resume)."""
    def write(tmp):
        with open(tmp, "w") as f:
            f.write(text)
    atomic_write(path, write)


def atomic_write_csv(path, rows, fields, float_format=None, formats=None):
    """Write ``rows`` (dicts) as a CSV with the columns ``fields`` (other keys are ignored), atomically.

    ``float_format`` (e.g. ``"{:.6g}"``) formats every float; ``formats`` maps a column to its own format.
    """
    formats = formats or {}

    def cell(key, value):
        if key in formats and value is not None:
            return formats[key].format(value)
        if float_format and isinstance(value, float):
            return float_format.format(value)
        return value
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(fields), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: cell(k, v) for k, v in row.items()})
    atomic_write_text(buf.getvalue(), path)
