"""run.py end to end: the four modes, their output files, bad input, NaN loss, kill -9 and --resume."""
import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

import run
from tests.conftest import ROOT, expect_error, folder_dataset
from utils import checkpoint as ckpt

TAG = "unet-demo-Adam-ce-stnFalse-pretrainFalse-augFalse"
FAST = ["--model", "unet", "--dataset", "demo", "--img-size", "32", "-b", "8", "-l", "1e-3"]


def call(args, capsys=None):
    code = run.main([str(a) for a in args])
    out = capsys.readouterr() if capsys else None
    return code, out


def data_args(demo_root):
    return FAST + ["--data-root", demo_root]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, demo_root):
    """One short training run shared by the output-file tests."""
    folder = tmp_path_factory.mktemp("trained")
    old = os.getcwd()
    os.chdir(folder)
    try:
        assert run.main(data_args(demo_root) + ["--mode", "train", "-e", "2"]) == 0
    finally:
        os.chdir(old)
    return folder


def test_train_writes_every_output(trained):
    f = trained
    assert (f / "checkpoints" / "unet" / f"{TAG}.pkl").is_file()
    assert (f / "checkpoints" / "unet" / f"{TAG}-last.pkl").is_file()
    result = json.loads((f / "result" / "unet-demo-Adam-ce-2-train-stnFalse-pretrainFalse-augFalse.json").read_text())
    for key in ("mDice", "mIoU", "mFWIoU", "mPrecision", "mRecall", "mAcc", "mAcc_class", "dice_fg", "iou_fg",
                "dice_case", "asd", "hd95", "n_empty_mismatch", "per_case_dice", "infer_ms_per_image"):
        assert key in result
    assert result["run"]["params"] == 17_276_290 and result["n_images"] == 12
    # the values hang together: Dice/IoU of one pooled matrix, the case means of the per-case table
    for key in ("mDice", "mIoU", "mFWIoU", "mAcc", "mAcc_class", "dice_fg", "iou_fg", "dice_case"):
        assert 0.0 <= result[key] <= 1.0, key
    background_dice = 2 * result["mDice"] - result["dice_fg"]
    background_iou = background_dice / (2 - background_dice)
    assert result["mIoU"] == pytest.approx((background_iou + result["iou_fg"]) / 2)
    assert result["iou_fg"] == pytest.approx(result["dice_fg"] / (2 - result["dice_fg"]))
    assert result["n_cases"] == len(result["per_case_dice"]) == 2  # the demo test split's two patients
    assert result["dice_case"] == pytest.approx(np.mean(list(result["per_case_dice"].values())))
    cases = list(csv.DictReader(open(f / "result" / "unet-demo-Adam-ce-2-train-stnFalse-pretrainFalse-augFalse-cases.csv")))
    assert {r["case"]: pytest.approx(float(r["dice"]), abs=1e-6) for r in cases} == result["per_case_dice"]
    assert sum(int(r["n_images"]) for r in cases) == 12
    assert result["run"]["lr"] == 1e-3 and result["run"]["epochs"] == 2 and result["run"]["img_size"] == 32
    rows = list(csv.DictReader(open(f / "result" / f"{TAG}-log.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert (f / "result" / "unet-demo-Adam-ce-2.png").stat().st_size > 10_000
    overlays = sorted(os.listdir(f / "test_performance" / "unet-demo-Adam-ce-2-train-stnFalse-pretrainFalse-augFalse"))
    assert len(overlays) == 12 and overlays[0].endswith(".png")
    meta = ckpt.read_meta(str(f / "checkpoints" / "unet" / f"{TAG}.pkl"))
    assert meta["model"] == "unet" and meta["dataset"] == "demo"


def test_test_mode_reproduces_the_training_runs_test_metrics(trained, demo_root, monkeypatch, capsys):
    monkeypatch.chdir(trained)
    code, out = call(data_args(demo_root) + ["--mode", "test", "-e", "2"], capsys)
    assert code == 0, out.err
    a = json.loads((trained / "result" / "unet-demo-Adam-ce-2-train-stnFalse-pretrainFalse-augFalse.json").read_text())
    b = json.loads((trained / "result" / "unet-demo-Adam-ce-2-test-stnFalse-pretrainFalse-augFalse.json").read_text())
    assert a["mDice"] == b["mDice"] and a["per_case_dice"] == b["per_case_dice"]


def test_predict_on_a_folder_writes_masks_at_the_original_size(trained, demo_root, monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(trained)
    images = tmp_path / "new_scans"
    images.mkdir()
    Image.fromarray(np.full((40, 50), 90, np.uint8)).save(images / "scan1.png")
    Image.fromarray(np.full((64, 64, 3), 30, np.uint8)).save(images / "scan2.jpg")
    code, out = call(data_args(demo_root) + ["--mode", "predict", "-e", "2", "--input", images], capsys)
    assert code == 0, out.err
    folder = trained / "test_performance" / "unet-demo-Adam-ce-2-predict-stnFalse-pretrainFalse-augFalse-new_scans"
    mask = np.asarray(Image.open(folder / "masks" / "scan1.png"))
    assert mask.shape == (40, 50) and set(np.unique(mask)) <= {0, 255}
    assert (folder / "overlays" / "scan2.png").is_file()


def test_debug_mode_needs_no_dataset(capsys):
    code, out = call(["--mode", "debug", "--img-size", "32"], capsys)
    assert code == 0 and "output (2, 2, 32, 32)" in out.out and "17,276,290 total" in out.out


# ----------------------------------------------------------------------------------------- bad input
def test_missing_data_root(in_tmp, capsys):
    expect_error(["--dataset", "xh", "--mode", "train", "--data-root", in_tmp / "nope"], capsys, "data root")


def test_missing_split_file(in_tmp, capsys):
    os.makedirs(in_tmp / "data" / "data-lumber" / "data-XH")
    expect_error(["--dataset", "xh", "--mode", "train"], capsys, "train_label.json")


def test_corrupt_image(in_tmp, capsys):
    root = folder_dataset(str(in_tmp / "ds"))
    open(os.path.join(root, "images", "s1.png"), "wb").write(b"\x89PNG broken")
    expect_error(["--dataset", root, "--mode", "train", "-e", "1"], capsys, "s1.png")


def test_mask_missing_and_of_another_size(in_tmp, capsys):
    root = folder_dataset(str(in_tmp / "ds"))
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(os.path.join(root, "masks", "s0.png"))
    expect_error(["--dataset", root, "--mode", "train"], capsys, "s0.png.*same size")
    os.remove(os.path.join(root, "masks", "s0.png"))
    expect_error(["--dataset", root, "--mode", "train"], capsys, "mask missing.*s0")


def test_label_values_out_of_range(in_tmp, capsys):
    root = folder_dataset(str(in_tmp / "ds"), values=(0, 3))
    expect_error(["--dataset", root, "--mode", "train"], capsys, r"label values \[3\].*-c 2")
    assert not (in_tmp / "checkpoints").exists() and not (in_tmp / "result").exists()


def test_size_not_divisible_names_a_working_img_size(in_tmp, capsys):
    root = folder_dataset(str(in_tmp / "ds"), size=(40, 40))
    expect_error(["--dataset", root, "--mode", "train"], capsys, "multiples of 16.*--img-size 32 or --img-size 48")


def test_mixed_sizes_ask_for_img_size(in_tmp, capsys):
    root = folder_dataset(str(in_tmp / "ds"))
    Image.fromarray(np.zeros((48, 48), np.uint8)).save(os.path.join(root, "images", "s1.png"))
    Image.fromarray(np.zeros((48, 48), np.uint8)).save(os.path.join(root, "masks", "s1.png"))
    expect_error(["--dataset", root, "--mode", "train"], capsys, "different sizes.*--img-size")


@pytest.mark.parametrize("args,pattern", [
    (["--dataset", "lungs", "--mode", "train"], "unknown dataset 'lungs'.*demo"),
    (["--dataset", "demo", "--mode", "train", "--loss", "hinge"], "unknown loss 'hinge'.*dice"),
    (["--dataset", "demo", "--mode", "train", "-w", "3"], "-w must lie in"),
    (["--mode", "train"], "--dataset is required"),
    (["--dataset", "demo", "--mode", "train", "-e", "0"], "-e must be at least 1"),
])
def test_bad_names_and_values(in_tmp, capsys, args, pattern):
    expect_error(args, capsys, pattern)


@pytest.mark.parametrize("args", [["--model", "unet9"], ["-o", "RMSprop"], ["--mode", "fit"]])
def test_unknown_choices_are_argparse_errors(capsys, args):
    full = ["--mode", "debug"] + args if "--mode" not in args else args
    with pytest.raises(SystemExit) as e:
        run.main(full)
    assert e.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_checkpoint_for_another_model_or_shape(in_tmp, capsys, demo_root):
    from model import create_model
    wrong = create_model("unet", n_classes=4)
    ckpt.save_weights(wrong, "four.pkl", {"model": "unet", "n_classes": 4})
    err = expect_error(data_args(demo_root) + ["--mode", "test", "--load", "four.pkl"], capsys,
                       "does not fit model 'unet'")
    assert "outc.weight: file (4, 64, 1, 1) vs model (2, 64, 1, 1)" in err
    ckpt.atomic_save({"conv.weight": np.zeros((2, 2)), ckpt.META_KEY: {"model": "attunet"}}, "other.pkl")
    expect_error(data_args(demo_root) + ["--mode", "test", "--load", "other.pkl"], capsys,
                 "saved for model 'attunet'(.|\n)*missing keys")
    expect_error(data_args(demo_root) + ["--mode", "test"], capsys, "no weights at .*train this configuration first")
    open("junk.pkl", "wb").write(b"junk")
    expect_error(data_args(demo_root) + ["--mode", "test", "--load", "junk.pkl"], capsys, "cannot read checkpoint")


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(in_tmp, capsys, demo_root, monkeypatch):
    import pipeline.setup
    from loss import build_loss
    calls = {"n": 0}

    def poisoned(spec, n_classes=2, w=1.0):
        real = build_loss(spec, n_classes, w)

        def crit(logits, target):
            calls["n"] += 1
            value = real(logits, target)
            return value * float("nan") if calls["n"] > 6 else value  # 6 batches = epoch 1
        return crit

    monkeypatch.setattr(pipeline.setup, "build_loss", poisoned)
    expect_error(data_args(demo_root) + ["--mode", "train", "-e", "3"], capsys,
                 r"loss became nan at epoch 2(.|\n)*last good weights are in .*-last.pkl \(epoch 1\)")
    state = ckpt.load_file(os.path.join("checkpoints", "unet", f"{TAG}-last.pkl"))
    assert state["epoch"] == 1
    assert not os.path.exists("result/unet-demo-Adam-ce-3-train-stnFalse-pretrainFalse-augFalse.json")


# ----------------------------------------------------------------------------------------- kill -9 and resume
def run_cli(args, cwd):
    env = dict(os.environ)
    return subprocess.Popen([sys.executable, os.path.join(ROOT, "run.py")] + [str(a) for a in args], cwd=cwd,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def read_log(folder):
    return list(csv.DictReader(open(os.path.join(folder, "result", f"{TAG}-log.csv"))))


def test_kill_9_then_resume_loses_at_most_one_epoch_and_matches_an_uninterrupted_run(tmp_path, demo_root):
    args = data_args(demo_root) + ["--mode", "train", "-e", "4"]
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    whole.mkdir(), broken.mkdir()
    p = run_cli(args, broken)
    last = broken / "checkpoints" / "unet" / f"{TAG}-last.pkl"
    deadline = time.time() + 600
    while time.time() < deadline and p.poll() is None:
        if last.exists() and ckpt.load_file(str(last))["epoch"] >= 2:
            break
        time.sleep(0.2)
    assert p.poll() is None, "training ended before it could be killed"
    p.send_signal(signal.SIGKILL)
    p.wait()
    done = ckpt.load_file(str(last))["epoch"]
    assert done >= 2
    resumed = run_cli(args + ["--resume"], broken)
    out = resumed.communicate(timeout=600)[0]
    assert resumed.returncode == 0, out
    assert f"after epoch {done}" in out
    reference = run_cli(args, whole)
    out = reference.communicate(timeout=600)[0]
    assert reference.returncode == 0, out
    a, b = read_log(broken), read_log(whole)
    assert [r["epoch"] for r in a] == ["1", "2", "3", "4"]
    for ra, rb in zip(a, b):
        assert float(ra["train_loss"]) == pytest.approx(float(rb["train_loss"]), rel=1e-4)
        assert float(ra["mIoU"]) == pytest.approx(float(rb["mIoU"]), rel=1e-4)


def test_resume_without_a_saved_state_is_an_error(in_tmp, capsys, demo_root):
    expect_error(data_args(demo_root) + ["--mode", "train", "--resume"], capsys, "checkpoint not found.*-last.pkl")
