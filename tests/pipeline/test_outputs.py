"""pipeline/outputs.py: output names (the original's, plus the dataset and the SAS options) and the writers."""
import json

import numpy as np

import run
from pipeline import catalog
from pipeline.outputs import RunPaths, print_outputs, write_cases, write_json
from pipeline.setup import check_run_flags


def paths(*argv):
    args = check_run_flags(run.build_parser(catalog).parse_args(["--dataset", "demo", "-e", "7", *argv]))
    return RunPaths(args)


def test_names_of_the_default_configuration():
    p = paths("--mode", "train")
    assert p.tag == "unet-demo-Adam-ce-stnFalse-pretrainFalse-augFalse"
    assert p.best == "checkpoints/unet/unet-demo-Adam-ce-stnFalse-pretrainFalse-augFalse.pkl"
    assert p.last.endswith("-augFalse-last.pkl")
    assert p.result == "result/unet-demo-Adam-ce-7-train-stnFalse-pretrainFalse-augFalse.json"
    assert p.curves == "result/unet-demo-Adam-ce-7.png"
    assert p.overlays == "test_performance/unet-demo-Adam-ce-7-train-stnFalse-pretrainFalse-augFalse"


def test_sas_options_extend_the_names_in_a_fixed_order():
    p = paths("--mode", "test", "--stn", "--stn-size", "16", "--stn-warp-mask", "--geo-aug", "scale,flip", "-o", "SGD")
    assert p.tag == "unet-demo-SGD-ce-stnTrue-pretrainFalse-augFalse-stnsize16-warpmask-geoflip+scale"
    assert p.run == "unet-demo-SGD-ce-7-test-stnTrue-pretrainFalse-augFalse-stnsize16-warpmask-geoflip+scale"


def test_a_folder_dataset_is_named_by_its_folder(tmp_path):
    folder = tmp_path / "ct_slices"
    (folder / "images").mkdir(parents=True)
    assert paths("--mode", "train", "--dataset", str(folder)).tag.startswith("unet-ct_slices-Adam-ce-")


def test_write_json_makes_numpy_and_nan_plain(tmp_path):
    target = tmp_path / "r.json"
    write_json(str(target), {"a": np.float32(0.5), "b": np.int64(3), "c": float("nan"), "d": [np.float64(np.inf)],
                             1: {"e": (1, 2)}})
    assert json.loads(target.read_text()) == {"a": 0.5, "b": 3, "c": None, "d": [None], "1": {"e": [1, 2]}}


def test_write_cases_and_print_outputs(tmp_path, capsys):
    target = tmp_path / "cases.csv"
    write_cases(str(target), [dict(case="p1", class_id=1, dice=2 / 3, true_pixels=3, predicted_pixels=3, n_images=2)])
    assert target.read_text().splitlines() == ["case,class_id,dice,true_pixels,predicted_pixels,n_images",
                                               "p1,1,0.666667,3,3,2"]
    print_outputs([("best weights", "a.pkl"), ("TensorBoard", "tb/")])
    assert capsys.readouterr().out == "outputs:\n  best weights     a.pkl\n  TensorBoard      tb/\n"
