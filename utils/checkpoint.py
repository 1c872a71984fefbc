"""Checkpoints: atomic writes, strict loading, and the training state that ``--resume`` restores.

Weight files are Jittor pickles (``jt.load`` reads them, as the original's ``Module.load`` did) holding
``{parameter name: numpy array}`` plus a ``"__meta__"`` entry (model name, dataset, classes, epoch, ...).
Loading is strict: a missing or unexpected key, or a shape mismatch, is an error that names them; Jittor's own
``load_parameters`` only warns, which turned a wrong file into a silently random model.
"""
import os

import numpy as np

import jittor as jt

from utils.atomic import atomic_write
from utils.errors import CheckpointError

META_KEY = "__meta__"


def atomic_save(obj, path):
    """Pickle ``obj`` to ``path`` atomically (Jittor's pickle; see :func:`utils.atomic.atomic_write`)."""
    atomic_write(path, lambda tmp: jt.safepickle(obj, tmp))


def load_file(path):
    """Unpickle a checkpoint, with a clear error when it is missing or unreadable."""
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        return jt.load(path)
    except Exception as e:  # jt.load raises RuntimeError/UnpicklingError/EOFError... for damaged files
        raise CheckpointError(f"cannot read checkpoint {path}: {str(e).splitlines()[0]}") from None


def model_state(model):
    """``{name: numpy array}`` of every variable of ``model`` (BatchNorm statistics included)."""
    return {k: v.numpy() for k, v in model.state_dict().items()}


def save_weights(module, path, meta=None):
    """Atomically save ``module``'s variables and a metadata dict (model name, dataset, epoch, ...)."""
    state = model_state(module)
    state[META_KEY] = dict(meta or {})
    atomic_save(state, path)


def read_meta(path):
    state = load_file(path)
    return state.get(META_KEY, {}) if isinstance(state, dict) else {}


def check_state(model, state, source, expected_model=None):
    """Raise :class:`CheckpointError` unless ``state`` has exactly ``model``'s keys and shapes."""
    if not isinstance(state, dict):
        raise CheckpointError(f"{source} is not a weight file (it holds a {type(state).__name__})")
    meta = state.get(META_KEY, {}) if isinstance(state.get(META_KEY), dict) else {}
    own = model.state_dict()
    keys = set(k for k in state if k != META_KEY)
    missing = sorted(set(own) - keys)
    unexpected = sorted(keys - set(own))
    mismatched = [f"{k}: file {tuple(np.shape(state[k]))} vs model {tuple(own[k].shape)}"
                  for k in sorted(keys & set(own)) if tuple(np.shape(state[k])) != tuple(own[k].shape)]
    if not (missing or unexpected or mismatched):
        return meta
    made_for = meta.get("model")
    lines = [f"checkpoint {source} does not fit model {expected_model or type(model).__name__!r}"]
    if made_for and expected_model and made_for != expected_model:
        lines[0] += f": it was saved for model {made_for!r}"
    if meta.get("n_classes") and meta.get("n_classes") != getattr(model, "n_classes", meta.get("n_classes")):
        lines.append(f"it was trained with -c {meta['n_classes']}")

    def show(title, items):
        if items:
            more = f" ... and {len(items) - 5} more" if len(items) > 5 else ""
            lines.append(f"{title} ({len(items)}): {', '.join(items[:5])}{more}")
    show("missing keys", missing)
    show("unexpected keys", unexpected)
    show("shape mismatches", mismatched)
    raise CheckpointError("\n  ".join(lines))


def load_weights(model, path, expected_model=None):
    """Load ``path`` into ``model`` strictly; returns the file's metadata."""
    state = load_file(path)
    meta = check_state(model, state, path, expected_model)
    model.load_parameters({k: v for k, v in state.items() if k != META_KEY})
    return meta


def optimizer_state(opt):
    """Learning rate, step count and per-parameter buffers (Adam's m/v, SGD's momentum) as numpy."""
    groups = []
    for pg in opt.param_groups:
        groups.append({k: [v.numpy() for v in pg[k]] for k in ("values", "m") if k in pg})
    return {"type": type(opt).__name__, "lr": float(opt.lr), "n_step": int(getattr(opt, "n_step", 0)),
            "groups": groups}


def load_optimizer_state(opt, state):
    if state.get("type") != type(opt).__name__:
        raise CheckpointError(f"the saved optimizer is {state.get('type')}, not {type(opt).__name__}; "
                              "resume with the same -o as the interrupted run")
    if len(state["groups"]) != len(opt.param_groups):
        raise CheckpointError("the saved optimizer state has a different number of parameter groups")
    for pg, saved in zip(opt.param_groups, state["groups"]):
        for k, arrays in saved.items():
            if len(arrays) != len(pg[k]):
                raise CheckpointError("the saved optimizer state does not match the model's parameters")
            for var, arr in zip(pg[k], arrays):
                var.assign(jt.array(arr))
    opt.lr = state["lr"]
    opt.n_step = state["n_step"]
