"""Knowledge distillation between any two registered models (``run.py --mode distill``).

* :mod:`.registry`: :data:`DISTILLERS`, the methods by their ``--kd`` names;
* :mod:`.methods`: KD, AT, DKD, DIST, CWD, ReviewKD and their losses as plain functions;
* :mod:`.taps`: feature taps (named submodules' outputs by forward hooks) and the default encoder stages;
* :mod:`.connectors`: the trained adapters from student to teacher maps (dropped when the student is saved);
* :mod:`.distiller`: the student beside its frozen teacher, built from the command line's settings.
"""
from . import methods  # noqa: F401  (registers the methods)
from .distiller import (Distiller, build_distiller, check_pairs_used, default_pairs, parse_layers,  # noqa: F401
                        parse_methods, parse_values)
from .registry import DISTILLERS, register_distiller  # noqa: F401
from .taps import FeatureTaps, encoder_stages  # noqa: F401
