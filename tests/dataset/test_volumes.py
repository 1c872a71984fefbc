"""NIfTI slicing and re-stacking, the LGG layout, label maps, and a 20-class volume set end to end."""
import csv
import json
import os

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

import run
from dataset import load_split
from dataset.loader import SegDataset
from dataset.base import map_labels, parse_label_map
from dataset.volumes import main as volumes_main
from dataset.volumes import restack_folder, slice_folder, window_volume
from utils.errors import DataError


def synthetic_volume(case, shape=(32, 32, 6), n_classes=20, seed=0):
    """A label volume of concentric rings (classes 0..n-1) and an image whose intensity follows the class."""
    rng = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    labels = np.zeros(shape, np.uint8)
    for z in range(shape[2]):
        cy, cx = shape[0] / 2 + rng.uniform(-2, 2), shape[1] / 2 + rng.uniform(-2, 2)
        r = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
        labels[:, :, z] = np.clip(n_classes - 1 - (r / (shape[0] / 2 / n_classes * 1.4)).astype(int), 0, n_classes - 1)
    image = (labels.astype(np.float32) * 50.0 - 400.0 + rng.normal(0, 5, shape)).astype(np.int16)
    affine = np.array([[0.8, 0, 0, -10.0], [0, 0.8, 0, 5.0], [0, 0, 2.5, 30.0], [0, 0, 0, 1]])
    img = nib.Nifti1Image(image, affine)
    img.header.set_xyzt_units("mm", "sec")
    img.header["descrip"] = f"synthetic {case}".encode()
    return img, nib.Nifti1Image(labels, affine)


def write_volumes(folder, cases, **kw):
    os.makedirs(os.path.join(folder, "images"), exist_ok=True)
    os.makedirs(os.path.join(folder, "labels"), exist_ok=True)
    for i, case in enumerate(cases):
        img, lab = synthetic_volume(case, seed=i, **kw)
        nib.save(img, os.path.join(folder, "images", f"{case}.nii.gz"))
        nib.save(lab, os.path.join(folder, "labels", f"{case}.nii.gz"))


def test_window_volume_fixed_and_percentile():
    vol = np.array([-1000.0, -160.0, 40.0, 240.0, 3000.0])
    np.testing.assert_array_equal(window_volume(vol, window=(-160, 240)), [0, 0, 128, 255, 255])
    assert window_volume(vol).max() == 255 and window_volume(vol).min() == 0


@pytest.mark.parametrize("axis", [0, 2])
def test_slice_then_restack_gives_back_array_affine_and_header(tmp_path, axis):
    write_volumes(str(tmp_path / "vol"), ["caseA", "caseB", "caseC"])
    out = str(tmp_path / "sliced")
    assert volumes_main(["slice", "--images", str(tmp_path / "vol" / "images"), "--labels",
                         str(tmp_path / "vol" / "labels"), "--out", out, "--axis", str(axis),
                         "--window=-400,600"]) == 0
    source = nib.load(str(tmp_path / "vol" / "labels" / "caseB.nii.gz"))
    image = nib.load(str(tmp_path / "vol" / "images" / "caseB.nii.gz"))
    vol, affine, header = restack_folder(out, "caseB")
    np.testing.assert_array_equal(vol, np.asarray(source.dataobj))
    np.testing.assert_array_equal(affine, image.affine)
    for field in ("dim", "pixdim", "qform_code", "sform_code", "srow_x", "srow_z", "xyzt_units", "descrip"):
        np.testing.assert_array_equal(header[field], image.header[field])
    rows = list(csv.DictReader(open(os.path.join(out, "split.csv"))))
    assert len(rows) == 3 * vol.shape[axis]
    for case in ("caseA", "caseB", "caseC"):
        assert len({r["split"] for r in rows if r["case"] == case}) == 1, "a volume stays in one split"
    assert json.load(open(os.path.join(out, "slicing.json")))["window"] == [-400, 600]


def test_slicing_errors_name_the_file(tmp_path):
    write_volumes(str(tmp_path / "vol"), ["caseA"])
    os.remove(str(tmp_path / "vol" / "labels" / "caseA.nii.gz"))
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 4), np.uint8), np.eye(4)), str(tmp_path / "vol" / "labels" / "x.nii"))
    with pytest.raises(DataError, match="no label volume for .*caseA"):
        slice_folder(str(tmp_path / "vol" / "images"), str(tmp_path / "out"), str(tmp_path / "vol" / "labels"),
                     progress=False)


def test_label_map():
    lm = parse_label_map("0:0,128:1,255:2")
    np.testing.assert_array_equal(map_labels(np.array([[0, 128, 255]]), 3, "m", lm), [[0, 1, 2]])
    with pytest.raises(DataError, match=r"\[7\].*--label-map"):
        map_labels(np.array([[0, 7]]), 3, "m", lm)
    with pytest.raises(DataError, match="outside 0..1"):
        map_labels(np.array([[0, 255]]), 2, "m", lm)
    with pytest.raises(DataError, match="value:class"):
        parse_label_map("0-0")


def make_lgg(root, patients=("TCGA_A", "TCGA_B", "TCGA_C", "TCGA_D"), slices=12):
    for p in patients:
        os.makedirs(os.path.join(root, p))
        for n in range(1, slices + 1):
            Image.fromarray(np.full((16, 16, 3), n * 10, np.uint8)).save(os.path.join(root, p, f"{p}_{n}.tif"))
            m = np.zeros((16, 16), np.uint8)
            m[4:8, 4:8] = 255 if n % 2 else 0
            Image.fromarray(m).save(os.path.join(root, p, f"{p}_{n}_mask.tif"))


def test_lgg_layout_splits_by_patient_and_orders_slices_by_number(tmp_path):
    root = str(tmp_path / "kaggle_3m")
    make_lgg(root)
    parts = {s: load_split(root, s) for s in ("train", "val", "test")}
    patients = {s: {x.case for x in v} for s, v in parts.items()}
    assert sum(len(v) for v in patients.values()) == 4
    assert not (patients["train"] & patients["test"])
    first = parts["train"]
    case0 = [s for s in first if s.case == first[0].case]
    assert [s.stem.rsplit("_", 1)[1] for s in case0] == [str(n) for n in range(1, 13)]
    x, y, _ = SegDataset(case0)[0]
    assert x.shape == (3, 16, 16) and set(np.unique(y)) == {0, 1}


def test_twenty_class_volumes_train_predict_to_nifti_and_report_per_class_and_per_volume(tmp_path, monkeypatch,
                                                                                         capsys):
    write_volumes(str(tmp_path / "vol"), [f"case{i}" for i in range(5)])
    data = str(tmp_path / "sliced")
    slice_folder(str(tmp_path / "vol" / "images"), data, str(tmp_path / "vol" / "labels"), window=(-400, 600),
                 progress=False)
    monkeypatch.chdir(tmp_path)
    common = ["--model", "unet", "--dataset", data, "-c", "20", "--img-size", "32", "-b", "4", "-l", "1e-3",
              "-e", "2"]
    assert run.main(common + ["--mode", "train"]) == 0, capsys.readouterr().err
    name = "unet-sliced-Adam-ce-2-train-stnFalse-pretrainFalse-augFalse"
    result = json.load(open(tmp_path / "result" / f"{name}.json"))
    assert sorted(result["per_class"], key=int) == [str(c) for c in range(20)]
    assert set(result["per_class"]["5"]) >= {"dice", "iou", "precision", "recall", "asd", "hd95"}
    test_cases = {r["case"] for r in csv.DictReader(open(os.path.join(data, "split.csv"))) if r["split"] == "test"}
    rows = list(csv.DictReader(open(tmp_path / "result" / f"{name}-cases.csv")))
    assert {r["case"] for r in rows} == test_cases
    assert len(rows) == len(test_cases) * 19 and {r["n_images"] for r in rows} == {"6"}
    assert result["n_cases"] == len(test_cases)
    overlay = np.asarray(Image.open(next((tmp_path / "test_performance" / name).iterdir())))
    assert overlay.shape == (32, 68, 3), "two panels: ground truth and prediction"
    events = list((tmp_path / "result" / "tensorboard" / "unet-sliced-Adam-ce-stnFalse-pretrainFalse-augFalse").iterdir())
    assert events and b"train/loss" in events[0].read_bytes()

    assert run.main(common + ["--mode", "predict", "--input", str(tmp_path / "vol" / "images")]) == 0
    out = tmp_path / "test_performance" / "unet-sliced-Adam-ce-2-predict-stnFalse-pretrainFalse-augFalse-images"
    pred = nib.load(str(out / "case3_pred.nii.gz"))
    src = nib.load(str(tmp_path / "vol" / "images" / "case3.nii.gz"))
    assert pred.shape == src.shape
    np.testing.assert_allclose(pred.affine, src.affine)
    labels = np.asarray(pred.dataobj)
    assert labels.dtype == np.uint8 and labels.max() < 20
