"""NIfTI slicing against bad volumes and flags: NaN voxels, inverted windows, two files for one volume, an
output that is a file."""
import os

import nibabel
import numpy as np
import pytest

from dataset.volumes import main as volumes_main
from dataset.volumes import window_volume
from tests.conftest import expect_error


def write_volume(path, data):
    nibabel.save(nibabel.Nifti1Image(np.asarray(data, np.float32), np.eye(4)), str(path))


@pytest.fixture
def scans(tmp_path):
    folder = tmp_path / "scans"
    folder.mkdir()
    vol = np.arange(4 * 4 * 3, dtype=np.float32).reshape(4, 4, 3)
    write_volume(folder / "a.nii.gz", vol)
    return folder, vol


def test_a_nan_voxel_does_not_black_out_the_volume(capsys):
    vol = np.arange(64, dtype=np.float64).reshape(4, 4, 4)
    vol[0, 0, 0] = np.nan
    scaled = window_volume(vol, percentiles=(0, 100), source="a.nii")
    assert "a.nii: 1 voxels are NaN or infinite; they become 0" in capsys.readouterr().out
    assert scaled[0, 0, 0] == 0 and scaled.max() == 255 and len(np.unique(scaled)) > 50
    with pytest.raises(Exception, match="no finite intensity"):
        window_volume(np.full((2, 2, 2), np.nan))


def test_slicing_with_an_inverted_window_is_an_error(scans, tmp_path, capsys):
    folder, _ = scans
    expect_error(["slice", "--images", folder, "--out", tmp_path / "out", "--window=10,5"], capsys,
                 "--window=10,5: LOW must be below HIGH", main=volumes_main)
    assert not (tmp_path / "out").exists()


def test_two_files_of_one_volume_are_an_error(scans, tmp_path, capsys):
    folder, vol = scans
    write_volume(folder / "a.nii", vol * 2)
    expect_error(["slice", "--images", folder, "--out", tmp_path / "out"], capsys,
                 r"two volumes named 'a' \(a\.nii and a\.nii\.gz\)", main=volumes_main)
    assert not (tmp_path / "out").exists()


def test_an_output_that_is_a_file(scans, tmp_path, capsys):
    folder, _ = scans
    target = tmp_path / "out.txt"
    target.write_text("keep me")
    expect_error(["slice", "--images", folder, "--out", target], capsys, "--out .*out.txt is a file",
                 main=volumes_main)
    assert target.read_text() == "keep me"


def test_the_slice_count_is_what_was_written(scans, tmp_path, capsys):
    folder, vol = scans
    assert volumes_main(["slice", "--images", str(folder), "--out", str(tmp_path / "out")]) == 0
    written = os.listdir(tmp_path / "out" / "images")
    assert len(written) == vol.shape[2] and f"1 volumes -> {vol.shape[2]} slices" in capsys.readouterr().out
