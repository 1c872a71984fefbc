"""Dataset readers: the original layout, folder datasets, the demo generator, labels, resizing, errors."""
import hashlib
import json
import os

import numpy as np
import pytest
from PIL import Image

from tests.conftest import shared_dataset
from dataset import check_samples, list_datasets, load_split
from dataset.loader import SegDataset
from dataset.base import map_labels, resize_pair
from dataset.demo import ensure_demo, generate
from dataset.folder import seeded_split
from dataset.io import read_image, read_mask
from utils.errors import ConfigError, DataError


def write_png(path, arr):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.asarray(arr, np.uint8)).save(path)


def make_original_tree(root, folder="data-pancreas", suffix=".png"):
    base = os.path.join(root, folder)
    tree = {"train": {"p1": {"ct1": {"list": ["p1/a.npy", "p1/b.npy", "notes.txt"]}}},
            "val": {"p2": {"ct1": {"list": ["p2/c.NPY"]}}},
            "test": {"p3": {"ct1": {"list": ["p3/d.npy"]}, "ct2": {"list": ["p3/e.npy"]}}}}
    for split, content in tree.items():
        for person, scans in content.items():
            for scan in scans.values():
                for name in scan["list"]:
                    if not name.lower().endswith(".npy"):
                        continue
                    stem = name[:-4]
                    write_png(os.path.join(base, "data", stem + suffix), np.full((16, 16), 100))
                    os.makedirs(os.path.dirname(os.path.join(base, "label", name)), exist_ok=True)
                    mask = np.zeros((16, 16), np.int64)
                    mask[4:8, 4:8] = 1
                    np.save(os.path.join(base, "label", name), mask)
        with open(os.path.join(base, f"{split}_label.json"), "w") as f:
            json.dump(content, f)
    return base


def test_named_datasets_are_the_originals_plus_demo():
    assert list_datasets() == sorted(["xh", "xh_hard", "zs_big", "zs_small", "pancreas", "demo"])


def test_original_layout(tmp_path):
    make_original_tree(str(tmp_path))
    train = load_split("pancreas", "train", str(tmp_path))
    assert [s.stem for s in train] == ["p1__a", "p1__b"]          # notes.txt ignored
    assert train[0].image.endswith(os.path.join("data", "p1", "a.png"))
    assert train[0].mask.endswith(os.path.join("label", "p1", "a.npy"))
    assert {s.case for s in load_split("pancreas", "test", str(tmp_path))} == {"p3"}
    assert load_split("pancreas", "val", str(tmp_path))[0].image.endswith("c.png")  # .NPY matched too


def test_xh_hard_reads_the_hard_folder(tmp_path):
    make_original_tree(str(tmp_path), "data-lumber/data-hard", ".jpg")
    assert load_split("xh_hard", "train", str(tmp_path))[0].image.endswith("a.jpg")


def test_missing_data_root_and_split_file_are_clear(tmp_path):
    with pytest.raises(DataError, match="data root"):
        load_split("xh", "train", str(tmp_path / "nowhere"))
    os.makedirs(tmp_path / "data-pancreas")
    with pytest.raises(DataError, match="train_label.json"):
        load_split("pancreas", "train", str(tmp_path))


def test_unknown_dataset_lists_names(tmp_path):
    with pytest.raises(ConfigError, match="demo"):
        load_split("lungs", "train", str(tmp_path))


def make_folder(root, n=6, size=(20, 24), csv_rows=None, mask_ext=".png"):
    for i in range(n):
        write_png(os.path.join(root, "images", f"s{i}.png"), np.full(size, 50 + i))
        m = np.zeros(size, np.uint8)
        m[5:10, 5:10] = 255
        if mask_ext == ".npy":
            os.makedirs(os.path.join(root, "masks"), exist_ok=True)
            np.save(os.path.join(root, "masks", f"s{i}.npy"), (m > 0).astype(np.int64))
        else:
            write_png(os.path.join(root, "masks", f"s{i}{mask_ext}"), m)
    if csv_rows:
        with open(os.path.join(root, "split.csv"), "w") as f:
            f.write("\n".join(csv_rows) + "\n")


def test_folder_dataset_with_split_csv_and_cases(tmp_path):
    root = str(tmp_path / "mine")
    make_folder(root, csv_rows=["stem,split,case", "s0,train,a", "s1,train,a", "s2,val,b", "s3,test,c",
                                "s4,train,d", "s5,test,c"])
    train = load_split(root, "train")
    assert [s.stem for s in train] == ["s0", "s1", "s4"]
    assert [s.case_id for s in train] == ["a", "a", "d"]
    assert train[0].mask.endswith(os.path.join("masks", "s0.png"))


def test_folder_split_csv_errors(tmp_path):
    root = str(tmp_path / "mine")
    make_folder(root, csv_rows=["stem,split", "s0,training"])
    with pytest.raises(DataError, match="line 2"):
        load_split(root, "train")
    make_folder(root, csv_rows=["stem,split", "s9,train"])
    with pytest.raises(DataError, match="s9"):
        load_split(root, "train")


def test_folder_without_csv_is_split_by_a_fixed_seed(tmp_path):
    root = str(tmp_path / "mine")
    make_folder(root, n=20, mask_ext=".npy")
    parts = {s: [x.stem for x in load_split(root, s)] for s in ("train", "val", "test")}
    assert sorted(sum(parts.values(), [])) == sorted(f"s{i}" for i in range(20))
    assert (len(parts["train"]), len(parts["val"]), len(parts["test"])) == (14, 3, 3)
    assert parts == {s: [x.stem for x in load_split(root, s)] for s in ("train", "val", "test")}


def test_seeded_split_keeps_cases_whole():
    assign = seeded_split(["p1", "p2", "p3", "p4", "p1", "p2"])
    assert sorted(assign) == ["p1", "p2", "p3", "p4"]
    assert sorted(assign.values()) == ["test", "train", "train", "val"]


def test_labels_0_255_become_binary_and_out_of_range_is_an_error():
    np.testing.assert_array_equal(map_labels(np.array([[0, 255]]), 2), [[0, 1]])
    np.testing.assert_array_equal(map_labels(np.array([[0, 3]]), 4), [[0, 3]])
    with pytest.raises(DataError, match=r"\[3\].*-c 2"):
        map_labels(np.array([[0, 3]]), 2, "m.png")
    with pytest.raises(DataError, match="255"):
        map_labels(np.array([[0, 255]]), 3, "m.png")


def test_resize_uses_nearest_for_masks():
    img = np.random.RandomState(0).randint(0, 255, (30, 40, 3)).astype(np.uint8)
    mask = np.zeros((30, 40), np.int64)
    mask[10:20, 10:30] = 3
    r_img, r_mask = resize_pair(img, mask, 16)
    assert r_img.shape == (16, 16, 3) and r_mask.shape == (16, 16)
    assert set(np.unique(r_mask)) == {0, 3}


def test_corrupt_image_and_mask_size_mismatch_name_the_file(tmp_path):
    root = str(tmp_path / "mine")
    make_folder(root, n=3, csv_rows=["stem,split", "s0,train", "s1,train", "s2,test"])
    bad = os.path.join(root, "images", "s1.png")
    with open(bad, "wb") as f:
        f.write(b"not a png")
    with pytest.raises(DataError, match="s1.png"):
        check_samples(load_split(root, "train"))
    with pytest.raises(DataError, match="s1.png"):
        read_image(bad)
    write_png(os.path.join(root, "masks", "s2.png"), np.zeros((5, 5)))
    with pytest.raises(DataError, match="s2.png.*same size"):
        check_samples(load_split(root, "test"))


def test_missing_mask_is_an_error(tmp_path):
    root = str(tmp_path / "mine")
    make_folder(root, n=2, csv_rows=["stem,split", "s0,train", "s1,train"])
    os.remove(os.path.join(root, "masks", "s1.png"))
    with pytest.raises(DataError, match="mask missing"):
        check_samples(load_split(root, "train"))


def test_seg_dataset_items(tmp_path):
    root = str(tmp_path / "mine")
    make_folder(root, n=2, csv_rows=["stem,split", "s0,train", "s1,train"])
    data = SegDataset(load_split(root, "train"), img_size=16, batch_size=2)
    x, y, idx = data[1]
    assert x.shape == (3, 16, 16) and x.dtype == np.float32
    assert x.max() <= 1.0 and x[0, 0, 0] == pytest.approx(51 / 255)
    assert y.dtype == np.int32 and set(np.unique(y)) == {0, 1}
    batches = list(data)
    assert len(batches) == 1 and tuple(batches[0][0].shape) == (2, 3, 16, 16)


def _tree_hash(folder):
    h = hashlib.sha256()
    for dirpath, _, files in sorted(os.walk(folder)):
        for name in sorted(files):
            with open(os.path.join(dirpath, name), "rb") as f:
                h.update(name.encode() + f.read())
    return h.hexdigest()


def test_demo_is_deterministic_and_in_the_original_layout(tmp_path, demo_root):
    again = generate(str(tmp_path / "data-demo"), progress=False)
    assert _tree_hash(again) == _tree_hash(os.path.join(demo_root, "data-demo"))
    train = load_split("demo", "train", demo_root)
    assert len(train) == 48 and len({s.case for s in train}) == 8
    assert not ({s.case for s in train} & {s.case for s in load_split("demo", "test", demo_root)})
    image, mask = read_image(train[0].image), read_mask(train[0].mask)
    assert image.shape == (128, 128, 3) and mask.shape == (128, 128)
    fractions = [read_mask(s.mask).mean() for s in train]
    assert 0.003 < np.mean(fractions) < 0.05, "the target is small, like the pancreas"


def test_demo_is_regenerated_only_when_missing_or_stale(demo_root):
    folder = os.path.join(demo_root, "data-demo")
    stamp = os.path.getmtime(os.path.join(folder, "demo_version.json"))
    assert ensure_demo(demo_root, progress=False) == folder
    assert os.path.getmtime(os.path.join(folder, "demo_version.json")) == stamp


def test_real_covid_ct_folder_reads():
    root = shared_dataset("covid_ct_infection")
    splits = {s: load_split(root, s) for s in ("train", "val", "test")}
    assert [len(v) for v in splits.values()] == [34, 8, 8]
    data = SegDataset(splits["test"], img_size=64)
    _, y, _ = data[0]
    assert set(np.unique(y)) <= {0, 1} and y.any()
