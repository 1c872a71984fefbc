"""Segmenting one image at a time with trained checkpoints, for front ends such as the web demo (``app.py``).

Everything here is built on the pieces the command line uses, so a picture segmented here gets the mask that
``run.py --mode predict`` writes for the same image and weights:

* :func:`list_checkpoints`: the best-weight files under ``checkpoints/{model}/`` with what their metadata says
  (model, dataset, classes, epoch, validation mIoU, SAS flags, image size); resume states (``-last.pkl``) and
  self-supervised weights are not segmentation models and are left out;
* :class:`ModelCache`: networks built (:func:`pipeline.setup.build_model`) and loaded strictly once per
  checkpoint file, the least recently used dropped beyond a bound;
* :func:`decode_image` / :func:`decode_mask`: uploaded bytes decoded by their content (never their name):
  PNG, JPEG, TIFF, BMP, NumPy ``.npy`` and DICOM (windowed by its centre/width, or by a chosen window);
* :func:`segment`: labels at the image's own size, and the inference time; :func:`score`: Dice, IoU, HD95 and
  ASD against a ground truth (:class:`utils.metrics.Evaluator`); :func:`phone_photo`: the robustness
  benchmark's ``screen_photo`` perturbation;
* :func:`demo_samples` (the demo set's test slices) and :func:`list_runs` (the result JSONs as the benchmark
  report reads them, with their curves and overlays).
"""
import io
import json
import math
import os
import re
import threading
import time
from argparse import Namespace
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Optional, Tuple

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from advance.robust import PERTURBATIONS
from dataset import load_split
from dataset.base import map_labels, resize_pair
from dataset.demo import ensure_demo
from dataset.io import read_image, read_mask
from dataset.volumes import window_volume
from model import MODELS, check_input_size
from utils import checkpoint as ckpt
from utils import report
from utils.errors import ConfigError, DataError, UserError
from utils.metrics import Evaluator

from .engine import predict_probs
from .predict import resize_labels
from .setup import build_model

CHECKPOINT_DIR = "checkpoints"
MAX_PIXELS = 4096 * 4096           # the largest picture decoded (a small file can hold a huge image)
PICTURE_FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "TIFF": "TIFF", "BMP": "BMP"}  # PIL's names -> shown
ACCEPTED = "PNG, JPEG, TIFF, BMP, NumPy .npy or DICOM"
_NPY_MAGIC = b"\x93NUMPY"


class InputError(DataError):
    """An uploaded file or a request value that cannot be used (the message says why)."""


class UnknownName(UserError):
    """A checkpoint, sample or run id that is not in the listed set."""


# --------------------------------------------------------------------------------------------- checkpoints
@dataclass(frozen=True)
class CheckpointEntry:
    id: str                       # "{model}/{file name without .pkl}": how clients name it
    path: str
    model: str
    dataset: Optional[str]
    n_classes: int
    epoch: Optional[int]
    mIoU: Optional[float]        # best validation mIoU
    img_size: Optional[int]      # the training --img-size (None: images at their own size)
    stn: bool
    stn_size: Optional[int]
    stn_warp_mask: bool
    pretrain: bool               # started from self-supervised weights (the S of SAS)
    aug: bool
    geo_aug: str
    stamp: Tuple[float, int]     # (mtime, size) of the file when read

    def public(self):
        """What a client may see (no file-system path)."""
        out = asdict(self)
        del out["path"], out["stamp"]
        return out


_META_CACHE = {}  # path -> (stamp, meta): reading a checkpoint's metadata unpickles the whole file
_META_LOCK = threading.Lock()


def _stamp(path):
    st = os.stat(path)
    return st.st_mtime, st.st_size


def _meta(path):
    stamp = _stamp(path)
    with _META_LOCK:
        hit = _META_CACHE.get(path)
        if hit and hit[0] == stamp:
            return stamp, hit[1]
    meta = ckpt.read_meta(path)
    with _META_LOCK:
        _META_CACHE[path] = (stamp, meta)
    return stamp, meta


def _flag(meta, config, tag, name):
    """A SAS flag from the checkpoint's settings, else from its file name (``-stnTrue-pretrainFalse-...``)."""
    if name in config:
        return bool(config[name])
    if name in meta:
        return bool(meta[name])
    found = re.search(rf"-{name}(True|False)(-|$)", tag)
    return bool(found and found.group(1) == "True")


def _entry(root, model_dir, name):
    path = os.path.join(root, model_dir, name)
    stamp, meta = _meta(path)
    if meta.get("kind") == "ssl" or meta.get("model", model_dir) not in MODELS:
        return None  # self-supervised weights, or a network this library does not have
    tag = name[:-len(".pkl")]
    config = meta.get("config") if isinstance(meta.get("config"), dict) else {}
    geo = meta.get("geo_aug") or config.get("geo_aug") or ""
    return CheckpointEntry(
        id=f"{model_dir}/{tag}", path=path, model=meta.get("model", model_dir), dataset=meta.get("dataset"),
        n_classes=int(meta.get("n_classes") or config.get("class_num") or 2), epoch=meta.get("epoch"),
        mIoU=meta.get("mIoU"), img_size=meta.get("img_size", config.get("img_size")),
        stn=_flag(meta, config, tag, "stn"), stn_size=meta.get("stn_size"),
        stn_warp_mask=bool(meta.get("stn_warp_mask")), pretrain=_flag(meta, config, tag, "pretrain"),
        aug=_flag(meta, config, tag, "aug"), geo_aug=",".join(geo) if isinstance(geo, (list, tuple)) else str(geo),
        stamp=stamp)


def list_checkpoints(root=CHECKPOINT_DIR):
    """``{id: CheckpointEntry}`` of the best-weight files ``root/{model}/*.pkl`` (resume states, unreadable
    files and self-supervised weights left out), sorted by id."""
    found = {}
    if not os.path.isdir(root):
        return found
    for model_dir in sorted(os.listdir(root)):
        if not os.path.isdir(os.path.join(root, model_dir)):
            continue
        for name in sorted(os.listdir(os.path.join(root, model_dir))):
            if not name.endswith(".pkl") or name.endswith("-last.pkl"):
                continue
            try:
                entry = _entry(root, model_dir, name)
            except (UserError, OSError):
                continue  # being written, damaged or gone: not offered
            if entry is not None:
                found[entry.id] = entry
    return found


def pick(table, key, what):
    """``table[key]``, or :class:`UnknownName` naming the listed keys (``key`` is never used as a path)."""
    if isinstance(key, str) and key in table:
        return table[key]
    listed = ", ".join(list(table)[:8]) or "none"
    raise UnknownName(f"unknown {what} {str(key)[:80]!r}; the listed ones are: {listed}")


class ModelCache:
    """Networks loaded from checkpoints, kept for the next request (at most ``size``, least recently used
    dropped); a checkpoint file that changed since it was loaded is loaded again."""

    def __init__(self, size=4):
        self.size = max(1, int(size))
        self._models = OrderedDict()
        self.loads = 0  # how many times a file was read (the tests check the cache works)

    def get(self, entry):
        key = (entry.path, entry.stamp)
        if key in self._models:
            self._models.move_to_end(key)
            return self._models[key]
        args = Namespace(model=entry.model, class_num=entry.n_classes, mode="predict", backbone_weights=None,
                         pretrain=False, stn=entry.stn, stn_size=entry.stn_size, stn_warp_mask=entry.stn_warp_mask)
        model = build_model(args)
        ckpt.load_weights(model, entry.path, expected_model=entry.model)
        model.eval()
        self.loads += 1
        self._models[key] = model
        while len(self._models) > self.size:
            self._models.popitem(last=False)
        return model


# --------------------------------------------------------------------------------------------- decoding
def _kind(data):
    if data[128:132] == b"DICM":
        return "DICOM"
    if data.startswith(_NPY_MAGIC):
        return "NPY"
    return "picture"


def _shown(error, path, name):
    """An error message of the readers with the temporary path replaced by the client's file name."""
    return str(error).replace(path, name)


def _store(data, folder, stem, kind):
    """Write ``data`` into ``folder`` under a name of our choosing (the readers pick NumPy by the suffix)."""
    path = os.path.join(folder, stem + (".npy" if kind == "NPY" else ".upload"))
    with open(path, "wb") as f:
        f.write(data)
    return path


def _check_picture(path, name):
    """The PIL format of the picture at ``path`` (a supported one, not too large), read from its header."""
    try:
        with Image.open(path) as im:
            fmt, w, h = im.format, im.width, im.height
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError):
        raise InputError(f"{name} is not an image this demo reads ({ACCEPTED})") from None
    if fmt not in PICTURE_FORMATS:
        raise InputError(f"{name} is a {fmt} image; upload {ACCEPTED}")
    _check_pixels(w, h, name)
    return PICTURE_FORMATS[fmt]


def _check_pixels(w, h, name):
    if w * h > MAX_PIXELS:
        raise InputError(f"{name} is {h}x{w} pixels; the demo takes at most {MAX_PIXELS:,} pixels per image")


def _check_npy(path, name):
    try:
        shape = np.load(path, mmap_mode="r").shape
    except (ValueError, OSError, EOFError) as e:
        raise InputError(f"{name} is not a readable NumPy array: {e}") from None
    if len(shape) < 2:
        raise InputError(f"{name} holds an array of shape {shape}; an image is H x W or H x W x C")
    _check_pixels(shape[1], shape[0], name)


def _dicom_window(ds, window):
    """(centre, width) to show a DICOM with: the chosen one, else the file's own (its first), else None."""
    if window is not None:
        return window
    centre, width = ds.get("WindowCenter"), ds.get("WindowWidth")
    if centre is None or width is None:
        return None
    first = [float(v[0]) if isinstance(v, Sequence) and not isinstance(v, str) else float(v)
             for v in (centre, width)]
    return (first[0], first[1]) if first[1] > 0 else None


def read_dicom(data, name, window=None):
    """``(RGB uint8 image, centre/width used or None)`` of a single-frame DICOM file: the stored values through
    the modality LUT (rescale slope/intercept), then windowed (``window`` = (centre, width), else the file's
    window, else the 0.5-99.5 percentiles, as the NIfTI slicer does); MONOCHROME1 is inverted."""
    import pydicom  # an optional dependency: only DICOM uploads need it
    from pydicom.errors import InvalidDicomError
    from pydicom.pixels import apply_modality_lut
    try:
        ds = pydicom.dcmread(io.BytesIO(data))
    except (InvalidDicomError, ValueError, TypeError, KeyError, EOFError, OSError) as e:
        raise InputError(f"{name} is not a readable DICOM file: {e}") from None
    if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        raise InputError(f"{name} is a DICOM file without pixel data (no image to segment)")
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        raise InputError(f"{name} holds {frames} frames; upload a single slice")
    _check_pixels(int(ds.get("Columns", 0)), int(ds.get("Rows", 0)), name)
    try:
        pixels = ds.pixel_array
    except Exception as e:  # pydicom raises many types for unsupported or damaged pixel data
        syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        raise InputError(f"cannot decode the pixels of {name}"
                         f"{f' (transfer syntax {syntax.name})' if syntax else ''}: {e}") from None
    if pixels.ndim == 3 and pixels.shape[2] == 3:  # colour: shown as stored
        rgb = pixels if pixels.dtype == np.uint8 else window_volume(pixels, None, (0, 100), source=name)
        return np.ascontiguousarray(rgb), None
    if pixels.ndim != 2:
        raise InputError(f"{name} has pixel data of shape {pixels.shape}; expected one grey or RGB slice")
    values = apply_modality_lut(pixels, ds)
    used = _dicom_window(ds, window)
    grey = window_volume(values, None if used is None else (used[0] - used[1] / 2, used[0] + used[1] / 2),
                         source=name)
    if str(ds.get("PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        grey = 255 - grey
    return np.repeat(grey[:, :, None], 3, axis=2), used


def _checked_upload(data, folder, name, what, stem):
    """``(kind, stored path or None)`` of uploaded bytes, after the checks every upload gets."""
    if not data:
        raise InputError(f"the {what} {name} is empty (0 bytes)")
    kind = _kind(data)
    if kind == "DICOM":
        return kind, None
    path = _store(data, folder, stem, kind)
    if kind == "NPY":
        _check_npy(path, name)
    else:
        kind = _check_picture(path, name)
    return kind, path


def decode_image(data, folder, name="the image", window=None):
    """``(RGB uint8 H x W x 3, format, DICOM window used or None)`` of uploaded bytes, decoded by content.
    Files go into ``folder`` only (a per-request temporary folder)."""
    kind, path = _checked_upload(data, folder, name, "image", "image")
    if kind == "DICOM":
        image, used = read_dicom(data, name, window)
        return image, kind, used
    try:
        return read_image(path), kind, None
    except DataError as e:
        raise InputError(_shown(e, path, name)) from None


def decode_mask(data, folder, shape, name="the mask"):
    """The uploaded ground truth as stored values ``H x W`` (map them with :func:`truth_labels`); its size
    must be ``shape``."""
    kind, path = _checked_upload(data, folder, name, "mask", "mask")
    if kind == "DICOM":
        raise InputError(f"{name} is a DICOM file; upload the mask as PNG, TIFF, BMP or NumPy .npy")
    try:
        mask = read_mask(path)
    except DataError as e:
        raise InputError(_shown(e, path, name)) from None
    return check_mask_shape(mask, shape, name)


def check_mask_shape(mask, shape, name="the mask"):
    if mask.shape != tuple(shape[:2]):
        raise InputError(f"{name} is {mask.shape[0]}x{mask.shape[1]} but the image is {shape[0]}x{shape[1]}; "
                         "they must have the same size")
    return mask


def truth_labels(mask, n_classes, name="the mask"):
    """Class ids of a ground truth for a checkpoint of ``n_classes`` (0/255 masks read as binary)."""
    try:
        return map_labels(mask, n_classes, name)
    except DataError as e:
        raise InputError(str(e)) from None


def parse_window(centre, width):
    """``(centre, width)`` from two form values (both empty: None)."""
    if not (centre or width):
        return None
    try:
        c, w = float(centre), float(width)
    except (TypeError, ValueError):
        raise InputError("give the DICOM window as two numbers, a centre and a width (e.g. 40 and 400)") from None
    if not (math.isfinite(c) and math.isfinite(w) and w > 0):
        raise InputError(f"the DICOM window needs a finite centre and a positive width, got {centre}, {width}")
    return c, w


# --------------------------------------------------------------------------------------------- inference
def check_image_size(entry, height, width):
    """A checkpoint trained without ``--img-size`` takes only the sizes its network takes."""
    if entry.img_size:
        return  # every image is resized to the training size
    try:
        check_input_size(entry.model, height, width)
    except ConfigError:
        info = MODELS.get(entry.model)
        raise InputError(f"{entry.id} was trained on images at their own size, and {entry.model} takes sides that "
                         f"are multiples of {info.divisor} (at least {info.min_size}); this image is "
                         f"{height}x{width}. Resize it, or choose a checkpoint trained with --img-size.") from None


def segment(model, image, img_size=None):
    """``(labels H x W int64 at the image's size, milliseconds of the network)`` of an RGB uint8 image,
    prepared as ``run.py --mode predict`` prepares it (resized to ``img_size``, scaled to [0, 1])."""
    resized, _ = resize_pair(image, None, img_size)
    x = np.ascontiguousarray(resized.transpose(2, 0, 1), dtype=np.float32)[None] / 255.0
    model.eval()
    start = time.perf_counter()
    probs = predict_probs(model, x)
    ms = 1000.0 * (time.perf_counter() - start)
    return resize_labels(probs[0].argmax(axis=0).astype(np.int64), image.shape[:2]), ms


def _number(x):
    x = float(x)
    return x if math.isfinite(x) else None


def score(pred, truth, n_classes):
    """Foreground Dice (both empty: 1), IoU, HD95 and ASD (pixels; None when undefined) of one image; with
    more than two classes also each class's Dice and IoU."""
    ev = Evaluator(n_classes, surface=True)
    ev.add(truth, pred)
    s = ev.summary()
    out = dict(dice=_number(s["dice_slice"]), iou=_number(s["iou_fg"]), hd95=_number(s["hd95"]),
               asd=_number(s["asd"]))
    if n_classes > 2:
        out["per_class"] = {c: dict(dice=v["dice"], iou=v["iou"]) for c, v in s["per_class"].items() if c != "0"}
    return out


def phone_photo(image, mask=None, strength=1.0, seed=0):
    """The image (and mask, moved with it) as a phone photo of a screen showing it (``screen_photo``)."""
    return PERTURBATIONS.get("screen_photo")(image, mask, strength, np.random.default_rng(seed))


def png_bytes(array):
    """PNG file bytes of a label map / grey image (H x W) or an RGB image (H x W x 3)."""
    array = np.ascontiguousarray(array)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(array, cv2.COLOR_RGB2BGR) if array.ndim == 3 else array)
    if not ok:
        raise OSError("could not encode a PNG")
    return buf.tobytes()


# --------------------------------------------------------------------------------------------- samples, runs
def demo_samples(data_root):
    """``{stem: Sample}`` of the demo set's test slices (the set is generated under ``data_root`` if absent)."""
    ensure_demo(data_root, progress=False)
    return {s.stem: s for s in load_split("demo", "test", data_root)}


def list_runs(result_dir="result", overlay_dir="test_performance", max_overlays=12):
    """The result JSONs under ``result_dir`` as the benchmark report gathers them (the newest of each dataset
    and configuration), newest first: ``{id: row}`` with the report's columns, the run's settings and the paths
    of its curves (None when absent) and of up to ``max_overlays`` test overlays."""
    rows = report.load_results([result_dir]) if os.path.isdir(result_dir) else {}
    runs = {}
    for row in sorted(rows.values(), key=lambda r: -r["_mtime"]):
        path = row["file"]
        try:
            with open(path) as f:
                run = json.load(f)["run"]
        except (OSError, ValueError, KeyError):
            continue
        stem = os.path.splitext(os.path.basename(path))[0]
        curves = os.path.join(os.path.dirname(path), "{model}-{dataset}-{optimizer}-{loss}-{epochs}.png".format(
            **{k: run.get(k) for k in ("model", "dataset", "optimizer", "loss", "epochs")}))
        folder = os.path.join(overlay_dir, stem)
        overlays = sorted(n for n in os.listdir(folder) if n.endswith(".png"))[:max_overlays] \
            if os.path.isdir(folder) else []
        run_id = os.path.relpath(path, result_dir)[:-len(".json")]
        public = {k: v for k, v in row.items() if k != "file" and not k.startswith("_")}
        runs[run_id] = dict(public, id=run_id, mode=run.get("mode"), optimizer=run.get("optimizer"),
                            loss=run.get("loss"), lr=run.get("lr"), batch_size=run.get("batch_size"),
                            curves=curves if os.path.isfile(curves) else None,
                            overlays=[os.path.join(folder, n) for n in overlays])
    return runs
