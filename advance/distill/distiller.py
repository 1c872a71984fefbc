"""A student trained beside a frozen teacher: :class:`Distiller`, and :func:`build_distiller`, which turns
``--kd``, ``--kd-weight``, ``--kd-tau`` and ``--kd-layers`` into one.

The teacher is kept out of the module tree (its parameters are neither trained nor saved, ``train()`` never
reaches it), stays in eval mode and runs without gradients. In training mode a forward pass runs the teacher,
then the student; both networks' feature taps are read, and :meth:`Distiller.terms` gives each method's
weighted loss for the batch's labels. In eval mode it is the student alone.

Default layer pairs (no ``--kd-layers``) for the methods that read encoder stages (``at``, ``reviewkd``): the
stages of :func:`~advance.distill.taps.encoder_stages` of both networks that have the same stride, e.g. for
``unet`` -> ``u2netp``: ``stage1:inc, stage2:down1, stage3:down2, stage4:down3, stage5:down4``.
"""
import math

import jittor as jt
from jittor import nn

from utils.errors import ConfigError

from .registry import DISTILLERS
from .taps import FeatureTaps, encoder_stages

__all__ = ["Distiller", "build_distiller", "check_pairs_used", "default_pairs", "parse_methods", "parse_values",
           "parse_layers"]


# --------------------------------------------------------------------------------------------------- flags
def parse_methods(spec):
    """``"kd,at"`` -> ``["kd", "at"]`` (``all``: every method); an unknown name lists the valid ones."""
    names = DISTILLERS.parse_list(spec, "--kd")
    if not names:
        raise ConfigError(f"--kd needs a method: {', '.join(DISTILLERS.names())}")
    return names


def parse_values(text, methods, flag):
    """``--kd-weight`` / ``--kd-tau``: one value per method, comma-separated (an empty entry keeps that
    method's default); a single value when there is one method. Returns ``[float or None] * len(methods)``."""
    if text is None or str(text).strip() == "":
        return [None] * len(methods)
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) != len(methods):
        raise ConfigError(f"{flag} {text!r}: give one value per method of --kd {','.join(methods)} "
                          f"({len(methods)}, comma-separated; leave an entry empty for the default)")
    values = []
    for method, part in zip(methods, parts):
        if part == "":
            values.append(None)
            continue
        try:
            value = float(part)
        except ValueError:
            raise ConfigError(f"{flag} {text!r}: {part!r} is not a number") from None
        if not (math.isfinite(value) and value > 0):
            raise ConfigError(f"{flag} {text!r}: the value for {method} must be a finite positive number")
        if flag == "--kd-tau" and DISTILLERS.get(method).default_tau is None:
            raise ConfigError(f"--kd-tau {text!r}: {method} has no temperature; leave its entry empty")
        values.append(value)
    return values


def parse_layers(text):
    """``"stage2:down1,stage3:down2"`` -> ``[("stage2", "down1"), ("stage3", "down2")]`` (shallow to deep)."""
    if text is None or str(text).strip() == "":
        return []
    pairs = []
    for item in str(text).split(","):
        parts = [p.strip() for p in item.split(":")]
        if len(parts) != 2 or not all(parts):
            raise ConfigError(f"--kd-layers {text!r}: write student:teacher pairs such as stage2:down1,stage3:down2")
        pairs.append(tuple(parts))
    return pairs


def check_pairs_used(methods, layers):
    """Refuse ``--kd-layers`` when none of ``methods`` reads features (the pairs would be ignored)."""
    if layers and all(DISTILLERS.get(m, "--kd").features == "none" for m in methods):
        users = [n for n, c in DISTILLERS.items() if c.features != "none"]
        raise ConfigError(f"--kd-layers: {', '.join(methods)} distil the class maps only; layer pairs are read "
                          f"by {', '.join(users)}")


# --------------------------------------------------------------------------------------------------- pairs
def default_pairs(student, teacher, example, names=("student", "teacher")):
    """The stages of both networks with the same stride, shallow to deep: ``[(student, teacher), ...]``."""
    s_stages, t_stages = encoder_stages(student, example), encoder_stages(teacher, example)
    by_stride = {st.stride: st for st in s_stages}
    pairs = [(by_stride[t.stride].name, t.name) for t in t_stages if t.stride in by_stride]
    if not pairs:
        show = lambda stages: ", ".join(f"{s.name} (1/{s.stride})" for s in stages) or "none found"
        raise ConfigError(f"no default layer pairs: the {names[0]}'s stages [{show(s_stages)}] and the {names[1]}'s "
                          f"[{show(t_stages)}] share no stride; pass --kd-layers student:teacher,...")
    return pairs


class _Hidden:
    """Holds modules out of Jittor's module tree (not trained, not saved, not switched by ``train()``)."""

    def __init__(self, **items):
        self.__dict__.update(items)


class Distiller(nn.Module):
    """``student`` with its distillation ``methods`` (their connectors), beside a frozen ``teacher``."""

    def __init__(self, student, teacher, methods, student_taps, teacher_taps):
        super().__init__()
        self.student = student
        self.methods = nn.ModuleList(methods)
        self._frozen = _Hidden(teacher=teacher, student_taps=student_taps, teacher_taps=teacher_taps)
        self._batch = None
        teacher.eval()
        for p in teacher.parameters():
            p.stop_grad()

    @property
    def teacher(self):
        return self._frozen.teacher

    @property
    def method_names(self):
        return [m.name for m in self.methods]

    def train(self):
        # The student's own train() restores the gradients its eval() stopped (Jittor keeps that per module).
        super().train()
        self.student.train()
        self.teacher.eval()
        return self

    def eval(self):
        super().eval()
        self.student.eval()
        return self

    def execute(self, x):
        if not self.is_training():
            return self.student(x)
        taps = self._frozen
        with jt.no_grad():
            teacher_logits = self.teacher(x).detach()
            teacher_features = {k: v.detach() for k, v in taps.teacher_taps.take().items()} if taps.teacher_taps else {}
        logits = self.student(x)
        student_features = taps.student_taps.take() if taps.student_taps else {}
        self._batch = (logits, teacher_logits, student_features, teacher_features)
        return logits

    def terms(self, labels):
        """``[(method name, weighted loss)]`` of the last training forward pass, for ``labels`` (N x H x W)."""
        if self._batch is None:
            raise RuntimeError("Distiller.terms needs a training forward pass first")
        s, t, fs, ft = self._batch
        self._batch = None
        return [(m.name, m(s, t, fs, ft, labels)) for m in self.methods]

    def connector_state(self):
        """``{name: numpy array}`` of the methods' trainable parts (what a resume needs beside the student)."""
        return {k: v.numpy() for k, v in self.methods.state_dict().items()}

    def settings(self):
        return {m.name: m.settings() for m in self.methods}


def _probe(model, taps, example):
    """``{layer: channels}`` of ``taps`` on one eval-mode pass without gradients."""
    was_training = model.is_training()
    model.eval()
    try:
        with jt.no_grad():
            model(example)
            return {k: int(v.shape[1]) for k, v in taps.take().items()}
    finally:
        if was_training:
            model.train()


def build_distiller(student, teacher, methods, weights=None, taus=None, layers=(), example=None):
    """A :class:`Distiller` for the ``methods`` (names), with their weights and temperatures (None: the
    defaults) and ``layers`` (``[(student layer, teacher layer)]``; empty: the default pairs). ``example`` is
    one input batch that suits both networks (the layers' shapes are read from it)."""
    classes = [DISTILLERS.get(m, "--kd") for m in methods]
    weights = weights or [None] * len(methods)
    taus = taus or [None] * len(methods)
    layers = list(layers)
    check_pairs_used(methods, layers)
    if not layers and any(c.features == "stages" for c in classes):
        layers = default_pairs(student, teacher, example)
    wanted = [c.features == "stages" or (c.features == "optional" and bool(layers)) for c in classes]
    student_taps = teacher_taps = None
    channels = []
    if any(wanted):
        student_taps = FeatureTaps(student, [s for s, _ in layers])
        teacher_taps = FeatureTaps(teacher, [t for _, t in layers])
        s_ch, t_ch = _probe(student, student_taps, example), _probe(teacher, teacher_taps, example)
        channels = [(s_ch[s], t_ch[t]) for s, t in layers]
    built = [cls(weight=w, tau=tau, pairs=layers if use else (), channels=channels if use else ())
             for cls, w, tau, use in zip(classes, weights, taus, wanted)]
    return Distiller(student, teacher, built, student_taps, teacher_taps)
