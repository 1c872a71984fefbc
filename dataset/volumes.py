"""3D volumes (NIfTI) <-> 2D slices in the folder layout, and back.

Slicing (``python -m dataset.volumes slice --images DIR --labels DIR --out DIR --axis 2``) writes a folder
dataset that ``run.py --dataset OUT`` reads directly::

    OUT/images/<case>_<index>.png     8-bit slices after intensity windowing
    OUT/masks/<case>_<index>.png      label slices (class ids as stored in the label volume)
    OUT/split.csv                     stem,split,case  (a volume never straddles splits; seeded 70/15/15)
    OUT/volumes/<case>.json           sidecar: source file, shape, axis, affine, the NIfTI header, slice stems
    OUT/slicing.json                  the windowing used, so prediction on new volumes windows them alike

Windowing: ``--window=LOW,HIGH`` clips intensities to a fixed range (e.g. a CT window in HU,
``--window=-160,240``; write the ``=`` when LOW is negative);
``--percentiles LOW,HIGH`` (default ``0.5,99.5``) clips to per-volume percentiles; both then scale to 0..255.

Re-stacking (:func:`stack_slices`) puts label slices back along the same axis and writes a NIfTI file with the
source's affine and header, so a predicted volume overlays its scan in any viewer.  Reading and writing NIfTI
goes through nibabel.
"""
import argparse
import base64
import io
import json
import os
import sys

import nibabel
import numpy as np
from PIL import Image
from tqdm import tqdm

from utils.errors import DataError
from .folder import seeded_split

NIFTI_EXTS = (".nii.gz", ".nii")
DEFAULT_PERCENTILES = (0.5, 99.5)


def volume_name(path):
    """``case`` of ``.../case.nii.gz``."""
    base = os.path.basename(path)
    for ext in NIFTI_EXTS:
        if base.lower().endswith(ext):
            return base[: -len(ext)]
    return None


def is_volume(path):
    return os.path.isfile(path) and volume_name(path) is not None


def list_volumes(folder):
    if not os.path.isdir(folder):
        raise DataError(f"{folder} is not a folder")
    paths = sorted(os.path.join(folder, n) for n in os.listdir(folder) if is_volume(os.path.join(folder, n)))
    if not paths:
        raise DataError(f"{folder} holds no NIfTI volumes ({', '.join(NIFTI_EXTS)})")
    seen = {}
    for path in paths:
        case = volume_name(path)
        if case in seen:
            raise DataError(f"{folder} holds two volumes named {case!r} ({os.path.basename(seen[case])} and "
                            f"{os.path.basename(path)}): their slices would overwrite each other; keep one")
        seen[case] = path
    return paths


def load_volume(path):
    """(array, nibabel image) of a NIfTI file, with an error naming the file when it cannot be read."""
    try:
        img = nibabel.load(path)
        return np.asanyarray(img.dataobj), img
    except Exception as e:  # nibabel raises several types for damaged files
        raise DataError(f"cannot read volume {path}: {e}") from None


def window_volume(vol, window=None, percentiles=DEFAULT_PERCENTILES, source="the volume"):
    """Clip to ``window`` (fixed) or to per-volume ``percentiles``, then scale to uint8 0..255.

    Percentiles are taken over the finite voxels; NaN and infinite voxels become 0 (the low end of the window),
    with a note naming ``source`` and their count. A fixed window must have LOW < HIGH.
    """
    vol = np.asarray(vol, dtype=np.float64)
    finite = np.isfinite(vol)
    if window is not None and not window[0] < window[1]:
        raise DataError(f"--window={window[0]:g},{window[1]:g}: LOW must be below HIGH")
    if not finite.any():
        raise DataError(f"{source} holds no finite intensity (every voxel is NaN or infinite)")
    bad = int(vol.size - finite.sum())
    if bad:
        print(f"note: {source}: {bad} voxels are NaN or infinite; they become 0 (the low end of the window)")
    lo, hi = window if window is not None else np.percentile(vol[finite], percentiles)
    if hi <= lo:
        return np.zeros(vol.shape, np.uint8)
    scaled = np.round((np.clip(np.where(finite, vol, lo), lo, hi) - lo) / (hi - lo) * 255)
    return scaled.astype(np.uint8)


def _header_block(img):
    return base64.b64encode(img.header.binaryblock).decode("ascii")


def header_from_block(text, kind="Nifti1Header"):
    cls = getattr(nibabel, kind)
    return cls.from_fileobj(io.BytesIO(base64.b64decode(text)))


def slice_volume(image_path, label_path, out_dir, axis=2, window=None, percentiles=DEFAULT_PERCENTILES):
    """Cut one volume (and its label volume) into PNG slices under ``out_dir``; returns the sidecar dict."""
    case = volume_name(image_path)
    vol, img = load_volume(image_path)
    if vol.ndim != 3:
        raise DataError(f"{image_path} has {vol.ndim} dimensions; expected a 3D volume")
    if not 0 <= axis < 3:
        raise DataError(f"--axis must be 0, 1 or 2, got {axis}")
    labels = None
    if label_path:
        labels, _ = load_volume(label_path)
        if labels.shape != vol.shape:
            raise DataError(f"label volume {label_path} has shape {labels.shape} but {image_path} has {vol.shape}")
        if not np.all(np.mod(labels, 1) == 0) or labels.min() < 0 or labels.max() > 255:
            raise DataError(f"label volume {label_path} must hold integer class ids in 0..255")
        labels = labels.astype(np.uint8)
    scaled = window_volume(vol, window, percentiles, source=image_path)
    stems = []
    for k in range(vol.shape[axis]):
        stem = f"{case}_{k:04d}"
        Image.fromarray(np.take(scaled, k, axis=axis)).save(os.path.join(out_dir, "images", stem + ".png"))
        if labels is not None:
            Image.fromarray(np.take(labels, k, axis=axis)).save(os.path.join(out_dir, "masks", stem + ".png"))
        stems.append(stem)
    sidecar = dict(case=case, source=os.path.abspath(image_path),
                   labels=os.path.abspath(label_path) if label_path else None, shape=list(vol.shape), axis=axis,
                   affine=np.asarray(img.affine).tolist(), header_kind=type(img.header).__name__,
                   header=_header_block(img), slices=stems)
    with open(os.path.join(out_dir, "volumes", case + ".json"), "w") as f:
        json.dump(sidecar, f, indent=1)
    return sidecar


def slice_folder(images, out_dir, labels=None, axis=2, window=None, percentiles=DEFAULT_PERCENTILES,
                 progress=True):
    """Slice every volume of ``images`` (labels paired by name in ``labels``) into a folder dataset."""
    paths = list_volumes(images)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise DataError(f"--out {out_dir} is a file; give a folder for the slices")
    for sub in ("images", "masks", "volumes"):
        os.makedirs(os.path.join(out_dir, sub), exist_ok=True)
    label_paths = {}
    if labels:
        for p in list_volumes(labels):
            label_paths[volume_name(p)] = p
    cases = []
    for path in tqdm(paths, desc="slicing volumes", disable=not progress, unit="volume"):
        case = volume_name(path)
        if labels and case not in label_paths:
            raise DataError(f"no label volume for {path} in {labels} (expected {case}.nii.gz or {case}.nii)")
        cases.append(slice_volume(path, label_paths.get(case), out_dir, axis, window, percentiles))
    assign = seeded_split([c["case"] for c in cases])
    with open(os.path.join(out_dir, "split.csv"), "w") as f:
        f.write("stem,split,case\n")
        for c in cases:
            for stem in c["slices"]:
                f.write(f"{stem},{assign[c['case']]},{c['case']}\n")
    with open(os.path.join(out_dir, "slicing.json"), "w") as f:
        json.dump(dict(axis=axis, window=list(window) if window else None,
                       percentiles=list(percentiles) if window is None else None), f, indent=1)
    return cases


def read_slicing(dataset_dir):
    """The windowing a sliced dataset was made with (defaults when ``dataset_dir`` is not one)."""
    path = os.path.join(dataset_dir, "slicing.json") if dataset_dir else ""
    if path and os.path.isfile(path):
        with open(path) as f:
            cfg = json.load(f)
        return dict(axis=cfg["axis"], window=cfg.get("window"),
                    percentiles=cfg.get("percentiles") or list(DEFAULT_PERCENTILES))
    return dict(axis=2, window=None, percentiles=list(DEFAULT_PERCENTILES))


def stack_slices(slices, axis, shape=None):
    """Stack 2D label slices back into a volume along ``axis``."""
    vol = np.stack(slices, axis=axis)
    if shape is not None and tuple(vol.shape) != tuple(shape):
        raise DataError(f"stacked volume has shape {vol.shape}, expected {tuple(shape)}")
    return vol


def save_label_volume(labels, path, affine, header=None):
    """Write a uint8 label volume as NIfTI with the source's affine and header (data type set to uint8)."""
    header = header.copy() if header is not None else None
    img = nibabel.Nifti1Image(np.asarray(labels, dtype=np.uint8), np.asarray(affine), header=header)
    img.set_data_dtype(np.uint8)
    img.header["scl_slope"], img.header["scl_inter"] = 1.0, 0.0
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    nibabel.save(img, path)
    return path


def restack_folder(dataset_dir, case, masks_dir=None):
    """Re-stack the mask slices of ``case`` from a sliced dataset: (volume, affine, header)."""
    with open(os.path.join(dataset_dir, "volumes", case + ".json")) as f:
        side = json.load(f)
    masks_dir = masks_dir or os.path.join(dataset_dir, "masks")
    slices = [np.asarray(Image.open(os.path.join(masks_dir, s + ".png"))) for s in side["slices"]]
    vol = stack_slices(slices, side["axis"], side["shape"])
    return vol, np.asarray(side["affine"]), header_from_block(side["header"], side.get("header_kind", "Nifti1Header"))


def _pair(text, name):
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise DataError(f"{name} {text!r}: give two numbers LOW,HIGH, e.g. {name}=-160,240") from None
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise DataError(f"{name} {text!r}: LOW and HIGH must be finite numbers")
    return lo, hi


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m dataset.volumes",
                                description="Cut NIfTI volumes into 2D slices in the folder dataset layout.")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("slice", help="slice a folder of volumes (and label volumes)")
    s.add_argument("--images", required=True, help="folder of image volumes (*.nii, *.nii.gz)")
    s.add_argument("--labels", help="folder of label volumes with the same names")
    s.add_argument("--out", required=True, help="output folder (a dataset for run.py --dataset)")
    s.add_argument("--axis", type=int, default=2, help="slicing axis of the array (2: the third, usually axial)")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--window", help="fixed intensity window LOW,HIGH, e.g. --window=-160,240")
    g.add_argument("--percentiles", default="0.5,99.5", help="per-volume percentile window LOW,HIGH")
    args = p.parse_args(argv)
    try:
        window = _pair(args.window, "--window") if args.window else None
        if window is not None and not window[0] < window[1]:
            raise DataError(f"--window={args.window}: LOW must be below HIGH")
        percentiles = _pair(args.percentiles, "--percentiles")
        if not 0 <= percentiles[0] < percentiles[1] <= 100:
            raise DataError(f"--percentiles {args.percentiles}: need 0 <= LOW < HIGH <= 100")
        cases = slice_folder(args.images, args.out, args.labels, args.axis, window, percentiles)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    n = sum(len(c["slices"]) for c in cases)
    print(f"{len(cases)} volumes -> {n} slices in {args.out} (images/, masks/, split.csv, volumes/)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
