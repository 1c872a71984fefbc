"""``run.py --mode distill``: train ``--model`` (the student) beside a frozen ``--teacher``.

The teacher is built with ``-c`` classes and loaded strictly from ``--teacher-load`` (a checkpoint of another
model or class count is an error naming the difference), put in eval mode and run without gradients; it is
never saved. The student trains through train mode's loop (:mod:`pipeline.train`: best/last checkpoints,
``--resume``, logs, the final test) with the loss ``--loss + sum of the --kd terms``; the methods' connectors
train with it and are kept in the resume state only, so the best checkpoint is a plain checkpoint of the
student that test, predict and robust modes load like any other. Output names end in
``-{methods}-from-{teacher}`` (``pipeline/outputs.py``), so a distilled student never replaces a plain one.
"""
import os

import numpy as np

import jittor as jt

from advance.distill import build_distiller, check_pairs_used, parse_layers, parse_methods, parse_values
from advance.distill.taps import find_modules
from model import check_input_size, count_parameters, create_model
from utils import checkpoint as ckpt
from utils import distributed as dist
from utils.errors import CheckpointError, ConfigError

from .setup import check_memory, with_changes
from .train import Trainee, train


def check_distill_flags(args):
    """The distillation flags, parsed into ``args.kd_methods``, ``args.kd_weights``, ``args.kd_taus`` and
    ``args.kd_pairs``; a :class:`ConfigError` / :class:`CheckpointError` before anything is done."""
    if not args.teacher:
        raise ConfigError("--mode distill needs --teacher MODEL (the network of --teacher-load)")
    if not args.teacher_load:
        raise ConfigError("--mode distill needs --teacher-load FILE (the teacher's trained weights)")
    if not os.path.isfile(args.teacher_load):
        raise CheckpointError(f"--teacher-load {args.teacher_load}: " + (
            "a folder; give a checkpoint file (.pkl) in it" if os.path.isdir(args.teacher_load) else "not found"))
    if args.stn_warp_mask:
        raise ConfigError("--stn-warp-mask trains against warped masks, which the teacher's maps do not follow; "
                          "distil without it")
    args.kd_methods = parse_methods(args.kd)
    args.kd_weights = parse_values(args.kd_weight, args.kd_methods, "--kd-weight")
    args.kd_taus = parse_values(args.kd_tau, args.kd_methods, "--kd-tau")
    args.kd_pairs = parse_layers(args.kd_layers)
    check_pairs_used(args.kd_methods, args.kd_pairs)
    return args


def load_teacher(args):
    """The frozen teacher: ``--teacher`` with ``-c`` classes, ``--teacher-load`` loaded strictly."""
    state = ckpt.load_file(args.teacher_load)
    meta = state.get(ckpt.META_KEY, {}) if isinstance(state, dict) else {}
    meta = meta if isinstance(meta, dict) else {}
    where = f"--teacher-load {args.teacher_load}"
    if meta.get("model") and meta["model"] != args.teacher:
        raise CheckpointError(f"{where} holds weights of model {meta['model']!r}, not of --teacher {args.teacher}; "
                              f"pass --teacher {meta['model']} or the checkpoint of a {args.teacher}")
    if meta.get("n_classes") and int(meta["n_classes"]) != args.class_num:
        raise CheckpointError(f"{where} was trained with -c {meta['n_classes']}, but this run has -c "
                              f"{args.class_num}: teacher and student must segment the same classes")
    if meta.get("stn"):
        raise CheckpointError(f"{where} was trained with --stn; distil from a teacher without the spatial "
                              "transformer")
    teacher = create_model(args.teacher, in_channels=3, n_classes=args.class_num)
    ckpt.check_state(teacher, state, where, args.teacher)
    teacher.load_parameters({k: v for k, v in state.items() if k != ckpt.META_KEY})
    return teacher


class DistillTrainee(Trainee):
    """The student (``network``) and a :class:`~advance.distill.Distiller` around it (``module``), beside the
    loaded ``teacher``."""

    def __init__(self, args, teacher):
        super().__init__(args)  # built after the seed is set: the same initial weights as a plain run's
        self.teacher = teacher
        self.distiller = None
        self.sums, self.count = {}, 0
        self.log_fields = tuple(f"kd_{m}" for m in args.kd_methods)

    def prepare(self, train_data):
        args = self.args
        image, _ = train_data.load(0)
        side = int(image.shape[0])
        check_input_size(args.teacher, side, int(image.shape[1]))
        batch = max(1, -(-args.batch_size // dist.world_size()))
        check_memory(with_changes(args, model=args.teacher), self.teacher, side, batch, training=False)
        example = jt.zeros((batch, 3, side, int(image.shape[1])))
        self.distiller = build_distiller(self.network, self.teacher, args.kd_methods, args.kd_weights, args.kd_taus,
                                         args.kd_pairs, example)
        self.module = self.distiller

    def criterion(self, task_loss):
        def loss(outputs, masks):
            terms = self.distiller.terms(masks)
            n = int(outputs.shape[0])
            for name, value in terms:
                self.sums[name] = self.sums.get(name, 0.0) + float(value.item()) * n
            self.count += n
            return task_loss(outputs, masks) + sum(value for _, value in terms)
        return loss

    def epoch_log(self):
        row = {f"kd_{name}": total / max(self.count, 1) for name, total in self.sums.items()}
        self.sums, self.count = {}, 0
        return row

    def state(self):
        return {"distill": self.distiller.connector_state()}

    def restore(self, state, source):
        if "distill" not in state:
            raise CheckpointError(f"{source} is the state of a plain training run, not of a distillation; start "
                                  "anew without --resume")
        ckpt.check_state(self.distiller.methods, state["distill"], f"{source} (connectors)", "connectors")
        self.distiller.methods.load_parameters(state["distill"])

    def result_extra(self):
        return {"distill": {"teacher_load": os.path.abspath(self.args.teacher_load),
                            "teacher_params": count_parameters(self.teacher)[0],
                            "settings": self.distiller.settings()}}

    def describe(self):
        total = count_parameters(self.teacher)[0]
        trained = sum(int(np.prod(p.shape)) for p in self.distiller.methods.parameters())
        parts = ", ".join(f"{m.name} (weight {m.weight:g}" + (f", tau {m.tau:g}" if m.tau is not None else "")
                          + (f", layers {' '.join(f'{s}:{t}' for s, t in m.pairs)}" if m.pairs else "") + ")"
                          for m in self.distiller.methods)
        return (f"distilling from {self.args.teacher} ({total:,} parameters, frozen, {self.args.teacher_load}): "
                f"{parts}; connectors {trained:,} parameters (not saved with the student)")


def distill(args):
    """Train the student with distillation from the teacher (see the module docstring)."""
    check_distill_flags(args)
    # before anything else (the check of an earlier run's outputs included): the teacher and the layer names
    teacher = load_teacher(args)
    find_modules(create_model(args.model, in_channels=3, n_classes=args.class_num), [s for s, _ in args.kd_pairs])
    find_modules(teacher, [t for _, t in args.kd_pairs])
    return train(args, lambda a: DistillTrainee(a, teacher))
