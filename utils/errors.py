"""Errors that reach the user as one clear message (run.py prints them without a traceback)."""


class UserError(Exception):
    """Something the user can fix: bad data, a wrong flag, a mismatched checkpoint."""


class DataError(UserError):
    """A dataset, image or mask that cannot be used as it is."""


class CheckpointError(UserError):
    """A checkpoint that is missing, unreadable or made for another model."""


class ConfigError(UserError):
    """Flags that do not fit together (unknown names, sizes a model cannot take, ...)."""


class TrainingDiverged(UserError):
    """The loss became NaN or infinite."""


class OutputError(UserError):
    """An output that cannot be written (full disk, no permission, a file where a folder must be), or that would
    replace another run's results."""
