"""Atomic file writes: a temporary file in the target's folder, flushed to disk, then renamed over the target.

A crash (even ``kill -9``) leaves either the old file or the new one, never a truncated one. Checkpoints,
the resume state, result JSON, logs and tables are all written through :func:`atomic_write`.

The temporary file is ``.{name}.{pid}.tmp-XXXX`` beside the target: one that a killed process left behind is
removed by the next write of the same target (its process is gone), so no stale copy of a checkpoint stays
forever. The result gets the permissions every other new file gets (``0666`` less the umask), not
``mkstemp``'s ``0600``. A write that fails (a full disk, no permission, a file where a folder must be) raises
:class:`~utils.errors.OutputError` saying that the earlier file, if any, is unchanged.
"""
import csv
import errno
import glob
import io
import os
import tempfile

from utils.errors import OutputError


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_stale_temporaries(path):
    """Delete the temporaries of ``path`` whose writing process no longer runs; returns their paths."""
    folder, name = os.path.split(os.path.abspath(path))
    removed = []
    for tmp in glob.glob(os.path.join(glob.escape(folder), f".{glob.escape(name)}.*.tmp-*")):
        pid = tmp[len(os.path.join(folder, f".{name}.")):].split(".tmp-")[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            try:
                os.unlink(tmp)
                removed.append(tmp)
            except OSError:
                pass
    return removed


def _why(error):
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return "the disk is full"
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "no permission to write there"
    if error.errno in (errno.ENOTDIR, errno.EEXIST):
        return "a file stands where a folder must be"
    return error.strerror or str(error)


def atomic_write(path, write):
    """Create ``path`` atomically: ``write(tmp_path)`` fills a temporary file, which then replaces ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        os.makedirs(folder, exist_ok=True)
        remove_stale_temporaries(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.{os.getpid()}.tmp-", dir=folder)
        os.close(fd)
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as e:
        _discard(tmp)
        kept = f"; the earlier {os.path.basename(path)} is unchanged" if os.path.exists(path) else ""
        raise OutputError(f"cannot write {path}: {_why(e)} ({e.strerror or e}){kept}") from None
    except BaseException:
        _discard(tmp)
        raise


def _discard(tmp):
    if tmp and os.path.exists(tmp):
        os.unlink(tmp)


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


class RunLock:
    """An exclusive lock file for one run (``with RunLock(path, "training of X"):``): a second process asking
    for the same lock gets an :class:`OutputError` naming the process that holds it. A lock left by a process
    that has died is taken over. Folders made for the lock are removed again when the run leaves them empty
    (a run refused at its start leaves nothing behind)."""

    def __init__(self, path, what):
        self.path, self.what, self.held, self.made = path, what, False, []

    def __enter__(self):
        folder = os.path.dirname(os.path.abspath(self.path))
        while not os.path.isdir(folder):
            self.made.append(folder)
            folder = os.path.dirname(folder)
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
            except FileExistsError:
                owner = self._owner()
                if owner is not None and _alive(owner):
                    raise OutputError(f"another {self.what} is running (process {owner}, lock {self.path}); wait "
                                      "for it to finish, or stop it") from None
                _discard(self.path)  # its process is gone
                continue
            with os.fdopen(fd, "w") as f:
                f.write(f"{os.getpid()}\n")
            self.held = True
            return self
        raise OutputError(f"cannot take the lock {self.path} of the {self.what}")

    def _owner(self):
        try:
            with open(self.path) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def __exit__(self, *exc):
        if self.held and self._owner() == os.getpid():
            _discard(self.path)
        self.held = False
        for folder in self.made:  # innermost first
            try:
                os.rmdir(folder)
            except OSError:  # not empty: the run wrote its outputs there
                break
        return False
