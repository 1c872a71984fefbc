"""``run.py --mode predict``: segment the test split, any folder of images, or NIfTI volumes (one file or a
folder of them) with trained weights; masks at each image's own size, overlays, and label volumes with the
source's affine and header.
"""
import os

import cv2
import numpy as np
from tqdm import tqdm

from dataset import check_samples, load_split
from dataset.base import Sample, resize_pair
from dataset.io import IMAGE_EXTS, read_image
from dataset.loader import SegDataset
from dataset.volumes import is_volume, list_volumes, load_volume, read_slicing, save_label_volume, window_volume
from utils.errors import ConfigError, DataError
from utils.visualize import overlay, save_mask, save_rgb

from .engine import predict_batches, predict_probs
from .outputs import RunPaths, prediction_folder
from .setup import build_model, check_sizes, load_for_inference, window_kw


def _input_samples(folder):
    if not os.path.isdir(folder):
        raise DataError(f"--input {folder}: not a folder")
    names = sorted(n for n in os.listdir(folder) if os.path.splitext(n)[1].lower() in IMAGE_EXTS)
    if not names:
        raise DataError(f"--input {folder} holds no images ({', '.join(IMAGE_EXTS)})")
    return [Sample(stem=os.path.splitext(n)[0], image=os.path.join(folder, n)) for n in names]


def _has_volumes(folder):
    return any(is_volume(os.path.join(folder, n)) for n in os.listdir(folder))


def resize_labels(pred, shape):
    """A label map resized (nearest neighbour) to ``shape`` (H, W): predictions back at the image's own size."""
    if pred.shape == tuple(shape):
        return pred
    return cv2.resize(pred.astype(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST).astype(np.int64)


def predict(args):
    """Segment the test split, a folder of images, or NIfTI volumes (a file or a folder of them)."""
    paths = RunPaths(args)
    if args.input and (is_volume(args.input) or (os.path.isdir(args.input) and _has_volumes(args.input))):
        model = build_model(args)
        load_for_inference(args, paths, model)
        return _predict_volumes(args, paths, model)
    if args.input:
        samples = _input_samples(args.input)
    else:
        if not args.dataset:
            raise ConfigError("predict mode needs --input DIR or --dataset (its test split is segmented)")
        samples = load_split(args.dataset, "test", args.data_root)
    sizes = check_samples(samples, args.img_size, need_masks=False, what="input")
    check_sizes(args.model, sizes, "input", window=args.window, uniform=False)  # one image at a time
    model = build_model(args)
    load_for_inference(args, paths, model)
    out_dir = prediction_folder(paths, args.input) if args.input else paths.overlays
    data = SegDataset(samples, n_classes=args.class_num, img_size=args.img_size, batch_size=1, need_masks=False)
    for indices, preds, _ in predict_batches(model, data, desc="predict", **window_kw(args)):
        for idx, pred in zip(indices, preds):
            s = data.samples[int(idx)]
            image = read_image(s.image)
            pred = resize_labels(pred, image.shape[:2])
            save_mask(os.path.join(out_dir, "masks", f"{s.stem}.png"), pred, args.class_num)
            save_rgb(os.path.join(out_dir, "overlays", f"{s.stem}.png"), overlay(image, pred, None, args.class_num))
    print(f"segmented {len(samples)} images:\n  masks     {out_dir}/masks/ "
          f"({'0/255' if args.class_num == 2 else 'class ids'})\n  overlays  {out_dir}/overlays/")
    return 0


def _segment_slice(args, model, slice_u8):
    """Labels of one 2D uint8 slice (as the slicing tool writes them: grey, repeated over RGB)."""
    image, _ = resize_pair(np.repeat(slice_u8[:, :, None], 3, axis=2), None, args.img_size)
    x = image.transpose(2, 0, 1).astype(np.float32)[None] / 255.0
    model.eval()
    return resize_labels(predict_probs(model, x, **window_kw(args))[0].argmax(axis=0), slice_u8.shape)


def _predict_volumes(args, paths, model):
    """Slice each volume as the training data was sliced, segment, re-stack, write NIfTI with the source header."""
    volumes = [args.input] if os.path.isfile(args.input) else list_volumes(args.input)
    slicing = read_slicing(args.dataset if args.dataset and os.path.isdir(args.dataset) else None)
    axis = slicing["axis"]
    out_dir = prediction_folder(paths, args.input)
    written = []
    for path in tqdm(volumes, desc="volumes", unit="volume"):
        vol, img = load_volume(path)
        if vol.ndim != 3:
            raise DataError(f"{path} has {vol.ndim} dimensions; expected a 3D volume")
        scaled = window_volume(vol, slicing["window"], slicing["percentiles"], source=path)
        side = np.take(scaled, 0, axis=axis).shape
        check_sizes(args.model, {(args.img_size, args.img_size) if args.img_size else side}, "volume slice",
                    window=args.window)
        labels = [_segment_slice(args, model, np.take(scaled, k, axis=axis)) for k in range(vol.shape[axis])]
        case = os.path.basename(path).split(".nii")[0]
        target = os.path.join(out_dir, f"{case}_pred.nii.gz")
        save_label_volume(np.stack(labels, axis=axis), target, img.affine, img.header)
        written.append(target)
    print(f"segmented {len(written)} volumes (axis {axis}):\n" + "\n".join(f"  {w}" for w in written))
    return 0
