"""Training logs: the per-epoch CSV and TensorBoard event files.

TensorBoard (``tensorboard --logdir result/tensorboard``) shows ``train/loss`` and ``train/lr`` per step and
every validation metric per epoch (``val/mIoU``, ``val/dice_fg``, ...).  Events are written with tensorboardX;
without it only the CSV is written.
"""
import csv
import io
import os

from utils.checkpoint import atomic_write_text

LOG_FIELDS = ["epoch", "lr", "train_loss", "mIoU", "mDice", "dice_fg", "mAcc", "seconds"]


def write_epoch_csv(path, history):
    """Rewrite the whole per-epoch CSV atomically (a resumed run keeps exactly the epochs it has)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=LOG_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for row in history:
        writer.writerow({k: (f"{row[k]:.6g}" if isinstance(row.get(k), float) else row.get(k)) for k in LOG_FIELDS})
    atomic_write_text(buf.getvalue(), path)


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
