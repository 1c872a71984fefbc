"""Fixtures of the web demo's tests: a working folder with checkpoints, an application over it, and a tiny
training run started from the web API (once per test session).

Every network here is a UNet at 32 x 32 (one kernel shape set): the checkpoint ``unet/random-shifted`` holds
seeded random weights whose last bias is shifted so that about half of a demo slice is foreground (a
segmentation worth comparing pixel by pixel), and ``trained`` adds the best weights of a one-epoch run.
"""
import os
import shutil
import time

import jittor as jt
import numpy as np
import pytest

from dataset import load_split
from dataset.base import resize_pair
from dataset.io import read_image
from model import create_model
from pipeline.engine import predict_probs
from utils import checkpoint as ckpt
from web import create_app

SIZE = 32
RANDOM_ID = "unet/random-shifted"
TRAIN_FORM = dict(mode="train", model="unet", dataset="demo", epochs="1", batch_size="8", lr="1e-3",
                  img_size=str(SIZE))


def demo_test_samples(data_root):
    return load_split("demo", "test", data_root)


def wait_for_run(client, timeout=600):
    """Poll ``/api/train`` until the run ends; its last status."""
    deadline = time.time() + timeout
    while True:
        status = client.get("/api/train").get_json()
        if not status["running"]:
            return status
        if time.time() > deadline:
            client.post("/api/train/stop")
            pytest.fail(f"the run did not end within {timeout} s: {status['lines'][-5:]}")
        time.sleep(0.5)


@pytest.fixture(scope="session")
def workdir(tmp_path_factory, demo_root):
    """A folder as run.py leaves it, holding the ``random-shifted`` UNet checkpoint."""
    root = tmp_path_factory.mktemp("webwork")
    jt.set_global_seed(0)
    model = create_model("unet", in_channels=3, n_classes=2)
    model.eval()
    sample = demo_test_samples(demo_root)[0]
    image, _ = resize_pair(read_image(sample.image), None, SIZE)
    probs = predict_probs(model, image.transpose(2, 0, 1)[None].astype(np.float32) / 255.0)[0]
    margin = np.log(probs[1] + 1e-12) - np.log(probs[0] + 1e-12)
    bias = model.outc.bias.numpy()
    bias[1] -= float(np.median(margin))  # about half the pixels become foreground
    model.outc.bias.assign(bias)
    meta = dict(model="unet", dataset="demo", n_classes=2, epoch=0, mIoU=None, stn=False, img_size=SIZE,
                stn_size=None, stn_warp_mask=False, geo_aug="")
    ckpt.save_weights(model, os.path.join(root, "checkpoints", RANDOM_ID + ".pkl"), meta)
    return str(root)


@pytest.fixture
def make_app(workdir, demo_root, tmp_path):
    """``make_app(**kw)``: an application over ``workdir`` whose per-request folders go to ``tmp_path/requests``
    (so a test can see that nothing stays behind)."""
    requests = tmp_path / "requests"
    requests.mkdir()

    def make(**kw):
        kw.setdefault("workdir", workdir)
        return create_app(data_root=demo_root, temp_root=str(requests), **kw)
    make.requests = requests
    return make


@pytest.fixture
def client(make_app):
    return make_app().test_client()


@pytest.fixture(scope="session")
def trained(workdir, demo_root):
    """A one-epoch UNet trained through ``POST /api/train`` in ``workdir``: ``(final status, application)``."""
    app = create_app(workdir=workdir, data_root=demo_root)
    client = app.test_client()
    answer = client.post("/api/train", data=dict(TRAIN_FORM, data_root=demo_root))
    assert answer.status_code == 202, answer.get_json()
    return wait_for_run(client), app


@pytest.fixture
def sample_folder(tmp_path, demo_root):
    """A folder with one demo test image (for ``run.py --mode predict --input``); returns (folder, sample)."""
    sample = demo_test_samples(demo_root)[0]
    folder = tmp_path / "inputs"
    folder.mkdir()
    shutil.copy(sample.image, folder / os.path.basename(sample.image))
    return folder, sample
