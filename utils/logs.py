"""Training logs: the per-epoch CSV and TensorBoard event files.

TensorBoard (``tensorboard --logdir result/tensorboard``) shows ``train/loss`` and ``train/lr`` per step and
every validation metric per epoch (``val/mIoU``, ``val/dice_fg``, ...).  Events are written with tensorboardX;
without it only the CSV is written.
"""
import os

from utils.atomic import atomic_write_csv

LOG_FIELDS = ["epoch", "lr", "train_loss", "mIoU", "mDice", "dice_fg", "mAcc", "seconds"]


def write_epoch_csv(path, history):
    """Rewrite the whole per-epoch CSV atomically (a resumed run keeps exactly the epochs it has)."""
    atomic_write_csv(path, history, LOG_FIELDS, float_format="{:.6g}")


class TensorBoard:
    """Scalars to TensorBoard event files under ``folder`` (a no-op when tensorboardX is missing)."""

    def __init__(self, folder):
        self.folder = folder
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            self.writer = None
            return
        os.makedirs(folder, exist_ok=True)
        self.writer = SummaryWriter(logdir=folder)

    def step(self, global_step, loss, lr):
        if self.writer:
            self.writer.add_scalar("train/loss", loss, global_step)
            self.writer.add_scalar("train/lr", lr, global_step)

    def epoch(self, epoch, metrics):
        if self.writer:
            for k, v in metrics.items():
                if isinstance(v, (int, float)) and k != "epoch":
                    self.writer.add_scalar(f"val/{k}" if k not in ("train_loss", "lr", "seconds") else f"epoch/{k}",
                                           v, epoch)
            self.writer.flush()

    def close(self):
        if self.writer:
            self.writer.close()
