"""The web demo: segment uploaded slices (or phone photos of a screen) with trained checkpoints, browse the runs
under ``result/``, and start train/test runs from a form. ``app.py`` at the root starts it; the pages and the
JSON API are in :mod:`web.server`, the runs started from the page in :mod:`web.jobs`, and the segmentation
itself in :mod:`pipeline.serve`. Jittor must be configured (``utils.runtime.init``) before this is imported."""
from .server import create_app  # noqa: F401
