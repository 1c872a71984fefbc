"""run.py with the SAS options: STN options, geometric augmentation, mask warping, the robust mode."""
import csv
import os

import run
from utils import checkpoint as ckpt

FAST = ["--model", "unet", "--dataset", "demo", "--img-size", "32", "-b", "16", "-l", "1e-3", "-e", "1"]
SAS = ["--stn", "--stn-size", "16", "--stn-warp-mask", "--geo-aug", "flip,rotate", "--aug"]
TAG = "unet-demo-Adam-ce-stnTrue-pretrainFalse-augTrue-stnsize16-warpmask-geoflip+rotate"


def test_train_with_sas_options_then_robust_mode(demo_root, in_tmp, capsys):
    args = FAST + ["--data-root", demo_root] + SAS
    assert run.main(args + ["--mode", "train"]) == 0, capsys.readouterr().err
    best = in_tmp / "checkpoints" / "unet" / f"{TAG}.pkl"
    assert best.is_file()
    meta = ckpt.read_meta(str(best))
    assert meta["stn_size"] == 16 and meta["stn_warp_mask"] is True and meta["geo_aug"] == "flip,rotate"
    assert any(k.startswith("loc.") for k in ckpt.load_file(str(best)))
    capsys.readouterr()

    code = run.main(args + ["--mode", "robust", "--perturb", "noise,rotation", "--strengths", "1"])
    out = capsys.readouterr()
    assert code == 0, out.err
    prefix = in_tmp / "result" / TAG.replace("-Adam-ce-", "-Adam-ce-1-robust-")
    rows = list(csv.DictReader(open(f"{prefix}.csv")))
    assert [(r["perturbation"], float(r["strength"])) for r in rows] == [
        ("noise", 0.0), ("noise", 1.0), ("rotation", 0.0), ("rotation", 1.0)]
    assert all(0.0 <= float(r["mDice"]) <= 1.0 for r in rows)
    for suffix in (".md", ".png", "-examples.png"):
        assert os.path.isfile(f"{prefix}{suffix}")
    assert "foreground Dice" in out.out and "| rotation |" in out.out


def test_sas_option_errors(demo_root, in_tmp, capsys):
    base = FAST + ["--data-root", demo_root, "--mode", "train"]
    assert run.main(base + ["--stn-warp-mask"]) == 2
    assert "add --stn" in capsys.readouterr().err
    assert run.main(base + ["--geo-aug", "flip,shear"]) == 2
    assert "shear" in capsys.readouterr().err
    assert run.main(FAST + ["--data-root", demo_root, "--mode", "robust", "--perturb", "fog"]) == 2
    assert "fog" in capsys.readouterr().err
    assert not os.path.exists(in_tmp / "checkpoints")
