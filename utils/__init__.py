"""Runtime set-up, metrics, checkpoints, visualisation, logging and reports."""
from . import runtime  # noqa: F401  (configures Jittor before anything imports it)
