"""utils.report: result JSONs -> tables in the original's format, published numbers beside, chart."""
import csv
import json
import os
import time

from utils.report import config_key, load_results, main


def write_result(folder, name, model, dataset, dice_fg, mode="train", **flags):
    run = dict(model=model, dataset=dataset, mode=mode, epochs=5, img_size=64, params=1_000_000,
               train_s_per_epoch=2.5, **{"aug": False, "stn": False, "pretrain": False, **flags})
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
    rows_csv = list(csv.DictReader(open(out + ".csv")))
    assert [r["config"] for r in rows_csv if r["dataset"] == "pancreas"] == ["unet+pretrain", "unet"]
    assert os.path.getsize(out + ".png") > 5000


def test_report_without_results_is_an_error(tmp_path, capsys):
    assert main([str(tmp_path), "--out", str(tmp_path / "x")]) == 2
    assert "no run.py result JSON" in capsys.readouterr().err
