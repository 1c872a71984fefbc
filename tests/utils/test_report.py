"""utils.report: result JSONs -> tables in the original's format, published numbers beside, chart."""
import csv
import json
import os
import time

from utils.report import config_key, load_results, main


def write_result(folder, name, model, dataset, dice_fg, mode="train", epochs=5, train_s=2.5, **flags):
    run = dict(model=model, dataset=dataset, mode=mode, epochs=epochs, img_size=64, params=1_000_000,
               train_s_per_epoch=train_s, **{"aug": False, "stn": False, "pretrain": False, **flags})
    data = dict(mDice=0.5 + dice_fg / 2, mIoU=0.4, dice_fg=dice_fg, dice_case=dice_fg, hd95=3.0,
                infer_ms_per_image=10.0, run=run)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "w") as f:
        json.dump(data, f)


def test_config_keys_match_the_published_table():
    assert config_key(dict(model="unet", aug=True, stn=True, pretrain=True)) == "unet+aug+stn+pretrain"
    assert config_key(dict(model="deeplab")) == "deeplab"


def test_report_tables_csv_chart_and_published_numbers(tmp_path):
    res = str(tmp_path / "result")
    write_result(res, "a.json", "unet", "pancreas", 0.7)
    write_result(res, "b.json", "unet", "pancreas", 0.8, pretrain=True)
    write_result(res, "c.json", "attunet", "demo", 0.9)
    write_result(res, "robust.json", "unet", "demo", 0.1, mode="robust")   # not a train/test result: ignored
    time.sleep(0.01)
    write_result(res, "d.json", "unet", "pancreas", 0.75)                   # newer: replaces a.json
    rows = load_results([res])
    assert set(rows) == {("pancreas", "unet"), ("pancreas", "unet+pretrain"), ("demo", "attunet")}
    assert rows[("pancreas", "unet")]["dice_fg"] == 0.75
    out = str(tmp_path / "report" / "bench")
    assert main([res, "--out", out]) == 0
    md = open(out + ".md").read()
    assert "| Model | Dice | mIoU |" in md
    assert "| unet | 0.8750 | 0.4000 | 0.7500 |" in md and "| 0.7292 | 0.6477 |" in md   # original UNet row
    assert "| 0.8026 | 0.7165 |" in md                                                   # original UNet-SSL row
    assert "| 2.5 | 10.0 | 64 |" in md                                     # s / epoch, ms / image, image size
    rows_csv = list(csv.DictReader(open(out + ".csv")))
    assert [r["config"] for r in rows_csv if r["dataset"] == "pancreas"] == ["unet+pretrain", "unet"]
    assert os.path.getsize(out + ".png") > 5000


def test_test_result_takes_the_training_time_of_the_same_setting(tmp_path):
    write_result(str(tmp_path / "result"), "train.json", "unet", "demo", 0.8, train_s=7.5)
    write_result(str(tmp_path / "result"), "train8.json", "attunet", "demo", 0.8, epochs=8, train_s=9.0)
    time.sleep(0.01)
    write_result(str(tmp_path / "test_result"), "test.json", "unet", "demo", 0.85, mode="test", train_s=None)
    write_result(str(tmp_path / "test_result"), "test5.json", "attunet", "demo", 0.7, mode="test", train_s=None)
    rows = load_results([str(tmp_path / "test_result"), str(tmp_path / "result")])
    assert rows[("demo", "unet")]["dice_fg"] == 0.85                 # the newer (test) metrics
    assert rows[("demo", "unet")]["train_s_per_epoch"] == 7.5        # the training time of its train run
    assert rows[("demo", "attunet")]["dice_fg"] == 0.7
    assert rows[("demo", "attunet")]["train_s_per_epoch"] is None    # trained for 8 epochs: another setting


def test_report_without_results_is_an_error(tmp_path, capsys):
    assert main([str(tmp_path), "--out", str(tmp_path / "x")]) == 2
    assert "no run.py result JSON" in capsys.readouterr().err
