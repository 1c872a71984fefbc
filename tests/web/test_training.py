"""Training and testing from the web: run.py in its own process, one at a time, its progress and final
metrics read back, its own error lines shown for bad settings."""
import os

import pytest

from web.jobs import form_argv

from .conftest import TRAIN_FORM, wait_for_run
from .helpers import tree

TAG = "unet-demo-Adam-ce-stnFalse-pretrainFalse-augFalse"


def test_form_becomes_flags_with_values():
    argv = form_argv(dict(mode="test", model="unet", dataset="--resume", epochs="3", aug="on", stn="", lr=" "))
    assert argv == ["--mode=test", "--model=unet", "--dataset=--resume", "--epochs=3", "--aug"]
    with pytest.raises(Exception, match="mode must be one of train, test"):
        form_argv(dict(mode="robust"))


def test_training_run_progress_and_metrics(trained, workdir):
    status, app = trained
    assert status["returncode"] == 0, status["lines"][-10:]
    assert status["errors"] == [] and status["tag"] == TAG
    [epoch] = status["progress"]
    assert epoch["epoch"] == 1 and epoch["train_loss"] > 0 and 0 <= epoch["dice_fg"] <= 1 and "mIoU" in epoch
    assert {"mDice", "dice_fg", "hd95"} <= set(status["result"])
    client = app.test_client()
    listed = {c["id"]: c for c in client.get("/api/checkpoints").get_json()["checkpoints"]}
    assert listed[f"unet/{TAG}"]["epoch"] == 1 and listed[f"unet/{TAG}"]["img_size"] == 32
    [run] = [r for r in client.get("/api/runs").get_json()["runs"] if r["config"] == "unet"]
    assert run["mode"] == "train" and run["epochs"] == 1 and run["dice_fg"] == status["result"]["dice_fg"]
    assert client.get(run["curves_url"]).mimetype == "image/png"
    assert client.get(run["overlay_urls"][0]).mimetype == "image/png"
    page = client.get("/experiments").get_data(as_text=True)
    assert "One run at a time" in page and run["id"] in page


def test_bad_settings_show_the_command_lines_errors(trained, demo_root):
    _, app = trained
    client = app.test_client()
    first = client.post("/api/train", data=dict(TRAIN_FORM, data_root=demo_root, epochs="0"))
    assert first.status_code == 202
    second = client.post("/api/train", data=dict(TRAIN_FORM, data_root=demo_root))
    assert second.status_code == 409 and "one at a time" in second.get_json()["error"]
    status = wait_for_run(client)
    assert status["returncode"] == 2 and status["errors"] == ["error: -e must be at least 1, got 0"]
    assert status["progress"] == [] and status["result"] is None


def test_other_settings_need_overwrite(trained, workdir, demo_root):
    _, app = trained
    client = app.test_client()
    before = tree(os.path.join(workdir, "checkpoints"))
    client.post("/api/train", data=dict(TRAIN_FORM, data_root=demo_root, lr="0.01"))
    status = wait_for_run(client)
    assert status["returncode"] == 2
    [line] = status["errors"]
    assert line.startswith(f"error: checkpoints/unet/{TAG}.pkl holds the best weights") and "--overwrite" in line
    assert tree(os.path.join(workdir, "checkpoints")) == before
