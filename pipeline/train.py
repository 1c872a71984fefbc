"""``run.py --mode train``: train, keep the best validation-mIoU weights, then test them.

Every epoch writes the resume state (``-last.pkl``), the epoch log and TensorBoard events; a better
validation mIoU rewrites the best checkpoint. After the last epoch the best weights are tested and painted
(:func:`pipeline.evaluate.test_and_paint`). ``--resume`` continues from the resume state with model,
optimizer, epoch, best score and history restored; a NaN loss stops the run with the last good state kept.

What is trained is a :class:`Trainee`: the network of ``--model`` and the loss of ``--loss``. Distillation
(``pipeline/distill.py``) trains a student beside a frozen teacher through the same loop with its own trainee.
"""
import os
import time

import numpy as np

import jittor as jt

from model import count_parameters
from utils import checkpoint as ckpt
from utils import distributed as dist
from utils import runtime
from utils.atomic import RunLock, atomic_write_csv
from utils.errors import TrainingDiverged
from utils.logs import LOG_FIELDS, TensorBoard
from utils.optim import SCHEDULERS
from utils.visualize import plot_curves

from . import outputs
from .engine import evaluate, seed_epoch, train_one_epoch
from .evaluate import test_and_paint
from .outputs import RunPaths
from .setup import build_model, build_training, make_split


class Trainee:
    """What a training run trains: ``network`` (validated, saved as the best weights, tested) and ``module``
    (what the training loop calls and the optimizer updates: here the network itself). Subclasses add to it:
    :meth:`prepare` runs once the training split is read, before anything is written; :meth:`criterion` wraps
    the loss of ``--loss``; :meth:`state` / :meth:`restore` keep more in the resume state; :meth:`epoch_log`
    adds columns (``log_fields``) to the epoch log; :meth:`result_extra` adds to the result's ``run`` block."""

    log_fields = ()

    def __init__(self, args):
        self.args = args
        self.network = build_model(args)
        self.module = self.network

    def prepare(self, train_data):
        pass

    def criterion(self, task_loss):
        return task_loss

    def state(self):
        return {}

    def restore(self, state, source):
        pass

    def epoch_log(self):
        return {}

    def result_extra(self):
        return {}

    def describe(self):
        return ""


def _resume(args, paths, trainee, optimizer):
    """``(start_epoch, best_miou, best_epoch, history)`` of a new run, or of the interrupted one (--resume)."""
    if not args.resume:
        if os.path.exists(paths.last) and dist.is_main():
            print(f"note: starting a new run; {paths.last} (an earlier run's state) will be replaced")
        return 1, -1.0, 0, []
    state = ckpt.load_file(paths.last)
    model = trainee.network
    ckpt.check_state(model, state["model"], paths.last, args.model)
    model.load_parameters(state["model"])
    trainee.restore(state, paths.last)
    ckpt.load_optimizer_state(optimizer, state["optimizer"])
    print(f"resuming {paths.last} after epoch {state['epoch']} (best mIoU {state['best_miou']:.4f} at epoch "
          f"{state['best_epoch']})")
    return state["epoch"] + 1, state["best_miou"], state["best_epoch"], state["history"]


def _describe(args, trainee, splits):
    total, trainable = count_parameters(trainee.network)
    train_data, val_data, test_data = splits
    print(f"{runtime.describe()}\nmodel {args.model}: {total:,} parameters ({trainable:,} trainable); "
          f"train {len(train_data.samples)} / val {len(val_data.samples)} / test {len(test_data.samples)} "
          f"images; loss {args.loss}; {args.optimizer} lr {args.lr:g}, batch {args.batch_size}, "
          f"{args.epochs} epochs")
    if trainee.describe():
        print(trainee.describe())
    if dist.in_mpi():
        n = dist.world_size()
        print(f"MPI: {n} processes; the global batch is {args.batch_size} ({args.batch_size / n:g} per process, "
              f"gradients averaged, BatchNorm statistics synchronised); learning rate {args.lr:g} (not scaled)")


def train(args, trainee_class=Trainee):
    """Train one configuration; refuses to replace another run's weights, and to run twice at once."""
    paths = RunPaths(args)
    if not dist.is_main():
        return _train(args, paths, trainee_class)
    if not args.resume:
        outputs.check_earlier_run(args, paths)
    with RunLock(paths.lock, f"training of {paths.tag}"):
        return _train(args, paths, trainee_class)


def _train(args, paths, trainee_class):
    jt.set_global_seed(args.seed)  # initialisation, shuffles and augmentation follow --seed
    trainee = trainee_class(args)
    model = trainee.network
    train_data = make_split(args, "train", train=True, model=model)
    val_data = make_split(args, "val")
    test_data = make_split(args, "test")
    trainee.prepare(train_data)
    criterion, optimizer = build_training(args, trainee.module)
    criterion = trainee.criterion(criterion)
    start_epoch, best_miou, best_epoch, history = _resume(args, paths, trainee, optimizer)
    dist.broadcast_parameters(trainee.module)  # every rank starts from rank 0's weights

    main = dist.is_main()
    if main:
        _describe(args, trainee, (train_data, val_data, test_data))
    iters = len(train_data)
    schedule_fn = SCHEDULERS.get("poly" if args.poly else "constant")
    board = TensorBoard(paths.tensorboard) if main else None
    for epoch in range(start_epoch, args.epochs + 1):
        seed_epoch(args.seed, epoch, [train_data])
        done = (epoch - 1) * iters
        schedule = (lambda it, done=done: schedule_fn(args.lr, done + it, args.epochs * iters)) if args.poly else None
        t0 = time.perf_counter()
        try:
            log_step = board and (lambda it, v, lr, e=epoch: board.step((e - 1) * iters + it, v, lr))
            loss = train_one_epoch(trainee.module, train_data, criterion, optimizer, epoch, schedule, on_step=log_step,
                                   target_fn=model.warp_target if getattr(model, "warp_mask", False) else None)
        except TrainingDiverged as e:
            kept = f"; the last good weights are in {paths.last} (epoch {epoch - 1})" if epoch > 1 else ""
            raise TrainingDiverged(f"{e}{kept}. Lower the learning rate (-l) or check the data.") from None
        seconds = time.perf_counter() - t0
        extra = trainee.epoch_log()
        if not main:
            continue  # rank 0 alone validates and writes; the others go on to the next epoch's collectives
        val = evaluate(model, val_data, args.class_num, surface=False, desc=f"val epoch {epoch}")
        row = dict(epoch=epoch, lr=float(optimizer.lr), train_loss=loss, seconds=seconds,
                   **{k: val[k] for k in ("mIoU", "mDice", "dice_fg", "mAcc")}, **extra)
        history.append(row)
        improved = val["mIoU"] > best_miou
        if improved:
            best_miou, best_epoch = val["mIoU"], epoch
            ckpt.save_weights(model, paths.best, outputs.checkpoint_meta(args, paths, epoch=epoch, mIoU=best_miou))
        ckpt.atomic_save({"model": ckpt.model_state(model), "optimizer": ckpt.optimizer_state(optimizer),
                          "epoch": epoch, "best_miou": best_miou, "best_epoch": best_epoch, "history": history,
                          **trainee.state(), ckpt.META_KEY: outputs.checkpoint_meta(args, paths, epochs=args.epochs)},
                         paths.last)
        atomic_write_csv(paths.log, history, LOG_FIELDS + list(trainee.log_fields), float_format="{:.6g}")
        board.epoch(epoch, row)
        print(f"epoch {epoch}/{args.epochs}: loss {loss:.4f}  val mIoU {val['mIoU']:.4f}  mDice {val['mDice']:.4f}  "
              f"fg Dice {val['dice_fg']:.4f}  ({seconds:.1f} s){'  * best' if improved else ''}")

    if not main:
        return 0
    board.close()
    if history:
        plot_curves(history, paths.curves, title=paths.tag)
    ckpt.load_weights(model, paths.best, expected_model=args.model)
    result = test_and_paint(args, paths, model, test_data)
    seconds = [h["seconds"] for h in history]
    total, trainable = count_parameters(model)
    result.update(outputs.result_meta(args, paths, total, trainable, best_epoch=best_epoch,
                                      train_s_per_epoch=float(np.mean(seconds)) if seconds else None,
                                      **trainee.result_extra()))
    outputs.write_json(paths.result, result)
    outputs.print_metrics(result, f"test ({len(test_data.samples)} images, best epoch {best_epoch})")
    outputs.print_outputs([("best weights", paths.best), ("resume state", paths.last),
                           ("metrics JSON", paths.result), ("per-case Dice", paths.cases),
                           ("epoch log", paths.log), ("TensorBoard", f"{paths.tensorboard}/"),
                           ("curves", paths.curves),
                           ("overlays", f"{paths.overlays}/ ({outputs.overlay_legend(args.class_num)})")])
    return 0
