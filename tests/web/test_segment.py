"""Segmenting through the JSON API (pipeline/serve.py, web/server.py): the mask equals run.py's predict mode,
every accepted format gives the same answer, models are cached, checkpoints are listed from their metadata."""
import glob
import os
import subprocess
import sys

import cv2
import numpy as np

from dataset.io import read_image
from pipeline import serve
from utils import checkpoint as ckpt
from web.jobs import RUN_PY

from .conftest import RANDOM_ID, SIZE
from .helpers import decode_png, dicom_bytes, npy_bytes, read_bytes, upload


def segment(client, image=None, name="slice.png", **fields):
    data = dict(checkpoint=RANDOM_ID, **fields)
    if image is not None:
        data["image"] = upload(image, name)
    answer = client.post("/api/segment", data=data, content_type="multipart/form-data")
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def test_mask_equals_run_py_predict(client, workdir, demo_root, sample_folder, tmp_path):
    folder, sample = sample_folder
    cli = tmp_path / "cli"
    cli.mkdir()
    weights = os.path.join(workdir, "checkpoints", RANDOM_ID + ".pkl")
    done = subprocess.run([sys.executable, RUN_PY, "--mode", "predict", "--model", "unet", "--dataset", "demo",
                           "--data-root", demo_root, "--img-size", str(SIZE), "--load", weights, "--input",
                           str(folder)], cwd=cli, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    stem = os.path.splitext(os.path.basename(sample.image))[0]
    [mask_file] = glob.glob(str(cli / "test_performance" / "*" / "masks" / f"{stem}.png"))
    [overlay_file] = glob.glob(str(cli / "test_performance" / "*" / "overlays" / f"{stem}.png"))

    answer = segment(client, read_bytes(sample.image))
    [result] = answer["results"]
    expected = cv2.imread(mask_file, cv2.IMREAD_UNCHANGED)
    mask = decode_png(result["mask_png"])
    assert mask.shape == expected.shape == (answer["input"]["height"], answer["input"]["width"])
    assert np.array_equal(mask, expected)
    assert 0.2 < (mask == 255).mean() < 0.8  # a segmentation worth comparing, not an empty mask
    assert np.array_equal(decode_png(result["overlay_png"]), cv2.imread(overlay_file))
    assert np.array_equal(decode_png(result["labels_png"]), expected // 255)
    assert result["mask_format"] == "0/255" and result["metrics"] is None
    assert result["foreground_pixels"] == int((expected == 255).sum())


def test_formats_are_told_by_content(client, demo_root):
    """PNG under any name, NumPy and a windowed DICOM of the same pixels give the same mask; a sample named by
    id gives the upload's answer."""
    sample = serve.demo_samples(demo_root)["P010_00"]
    grey = read_image(sample.image)[:, :, 0]
    png = segment(client, read_bytes(sample.image), name="scan.dcm")
    assert png["input"]["format"] == "PNG"
    reference = decode_png(png["results"][0]["mask_png"])
    for data, name, fmt in ((npy_bytes(read_image(sample.image)), "slice.bin", "NPY"),
                            (dicom_bytes(grey), "slice.png", "DICOM")):
        answer = segment(client, data, name=name)
        assert answer["input"]["format"] == fmt
        assert np.array_equal(decode_png(answer["results"][0]["mask_png"]), reference), fmt
    assert segment(client, dicom_bytes(grey), name="ct.dcm")["input"]["window"] == [103.5, 255.0]
    chosen = segment(client, dicom_bytes(grey), name="ct.dcm", window_center="40", window_width="400")
    assert chosen["input"]["window"] == [40.0, 400.0]
    assert not np.array_equal(decode_png(chosen["input"]["png"]), decode_png(png["input"]["png"]))
    by_id = segment(client, sample="P010_00")
    assert np.array_equal(decode_png(by_id["results"][0]["mask_png"]), reference)


def test_ground_truth_metrics_and_phone_photo(client, demo_root):
    sample = serve.demo_samples(demo_root)["P010_01"]
    truth = np.load(sample.mask)
    answer = segment(client, read_bytes(sample.image), mask=upload(npy_bytes(truth * 255), "truth.npy"))
    m = answer["results"][0]["metrics"]
    pred = decode_png(answer["results"][0]["labels_png"])
    inter = np.logical_and(pred == 1, truth == 1).sum()
    assert abs(m["dice"] - 2 * inter / ((pred == 1).sum() + (truth == 1).sum())) < 1e-9
    assert abs(m["iou"] - inter / np.logical_or(pred == 1, truth == 1).sum()) < 1e-9
    assert m["hd95"] > 0 and answer["input"]["truth"]
    # the sample's own ground truth gives the same numbers
    assert segment(client, sample="P010_01", sample_truth="1")["results"][0]["metrics"] == m
    photo = segment(client, sample="P010_01", sample_truth="1", phone_photo="1", strength="1")
    assert photo["input"]["phone_photo"] and photo["input"]["strength"] == 1.0
    assert not np.array_equal(decode_png(photo["input"]["png"]), decode_png(answer["input"]["png"]))
    assert photo["results"][0]["metrics"]["dice"] != m["dice"]


def test_models_are_loaded_once(make_app):
    app = make_app()
    client = app.test_client()
    for _ in range(3):
        segment(client, sample="P010_02")
    assert app.extensions["jmedseg"].models.loads == 1


def test_checkpoint_listing(client, tmp_path):
    [entry] = client.get("/api/checkpoints").get_json()["checkpoints"][:1]
    assert entry["id"] == RANDOM_ID and "path" not in entry
    assert (entry["model"], entry["dataset"], entry["n_classes"], entry["img_size"], entry["epoch"]) == \
           ("unet", "demo", 2, SIZE, 0)
    assert (entry["stn"], entry["pretrain"], entry["aug"]) == (False, False, False)
    # resume states, self-supervised weights and damaged files are not offered
    folder = tmp_path / "other" / "checkpoints" / "unet"
    folder.mkdir(parents=True)
    ckpt.atomic_save({"__meta__": {"model": "unet", "kind": "ssl"}}, str(folder / "unet-ssl.pkl"))
    ckpt.atomic_save({"__meta__": {"model": "unet"}}, str(folder / "unet-demo-Adam-ce-stnTrue-last.pkl"))
    (folder / "broken.pkl").write_bytes(b"not a pickle")
    assert serve.list_checkpoints(str(tmp_path / "other" / "checkpoints")) == {}


def test_pages_render(client):
    page = client.get("/").get_data(as_text=True)
    assert RANDOM_ID in page and "phone photo" in page and "P010_00" in page
    form = client.get("/experiments").get_data(as_text=True)  # starts with run.py's defaults
    assert 'name="epochs" type="number" value="20"' in form and 'name="dataset" value="demo"' in form
    assert "<option selected>unet</option>" in form
    assert client.get("/samples/P010_00.png").mimetype == "image/png"
