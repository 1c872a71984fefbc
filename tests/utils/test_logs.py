"""utils/logs.py: the epoch CSV (rewritten whole on resume) and the TensorBoard events."""
import glob
import os

from utils.logs import TensorBoard, write_epoch_csv


def test_epoch_csv_is_rewritten_with_exactly_the_given_epochs(tmp_path):
    path = str(tmp_path / "log.csv")
    rows = [dict(epoch=1, lr=1e-3, train_loss=0.123456789, mIoU=0.5, mDice=0.6, dice_fg=0.2, mAcc=0.9, seconds=1.5,
                 extra="ignored"),
            dict(epoch=2, lr=1e-3, train_loss=0.1, mIoU=0.55, mDice=0.65, dice_fg=0.3, mAcc=0.91, seconds=1.25)]
    write_epoch_csv(path, rows)
    write_epoch_csv(path, rows[:1])
    assert open(path).read().splitlines() == ["epoch,lr,train_loss,mIoU,mDice,dice_fg,mAcc,seconds",
                                              "1,0.001,0.123457,0.5,0.6,0.2,0.9,1.5"]


def test_tensorboard_writes_the_scalars(tmp_path):
    board = TensorBoard(str(tmp_path / "tb"))
    board.step(0, 0.7, 1e-3)
    board.epoch(1, dict(epoch=1, mIoU=0.5, train_loss=0.6))
    board.close()
    files = glob.glob(os.path.join(str(tmp_path / "tb"), "events.out.tfevents.*"))
    assert len(files) == 1
    data = open(files[0], "rb").read()
    for tag in (b"train/loss", b"train/lr", b"val/mIoU", b"epoch/train_loss"):
        assert tag in data
    assert b"val/epoch" not in data
