"""Reading images and masks by file extension, with errors that name the file."""
import os

import numpy as np
from PIL import Image, UnidentifiedImageError

from utils.errors import DataError

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".npy")


def image_size(path):
    """(height, width) from the file header, without decoding the pixels."""
    if os.path.isfile(path) and os.path.getsize(path) == 0:
        raise DataError(f"{path} is empty (0 bytes)")
    try:
        if path.lower().endswith(".npy"):
            shape = np.load(path, mmap_mode="r").shape
        else:
            with Image.open(path) as im:
                return im.height, im.width
    except FileNotFoundError:
        raise DataError(f"file not found: {path}") from None
    except (UnidentifiedImageError, OSError, ValueError, EOFError) as e:
        raise DataError(f"cannot read {path}: {e or 'the file is empty or truncated'}") from None
    if len(shape) not in (2, 3):
        raise DataError(f"{path} holds an array of shape {shape}; an image is H x W or H x W x C")
    return int(shape[0]), int(shape[1])


def _to_uint8(arr, path):
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise DataError(f"{path} contains NaN or infinite values")
    lo, hi = arr.min(), arr.max()
    if lo >= 0 and hi <= 1:
        return np.round(arr * 255).astype(np.uint8)
    if hi == lo:
        return np.zeros(arr.shape, np.uint8)
    return np.round((arr - lo) / (hi - lo) * 255).astype(np.uint8)


# PIL modes of one-channel images deeper than 8 bits (16-bit PNG/TIFF, 32-bit integer or float TIFF)
DEEP_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")


def read_image(path):
    """An RGB ``H x W x 3`` uint8 array.

    Grey images are repeated over three channels (as the original did with ``convert('RGB')``).  ``.npy``
    images and one-channel images deeper than 8 bits (16-bit PNG/TIFF, 32-bit TIFF) are read at their depth:
    uint8 as they are, values in [0, 1] scaled by 255, anything else min-max scaled per image (an RGB
    conversion would clip 16-bit values above 255).
    """
    try:
        if path.lower().endswith(".npy"):
            arr = _to_uint8(np.load(path), path)
        else:
            with Image.open(path) as im:
                arr = _to_uint8(np.asarray(im), path) if im.mode in DEEP_MODES else np.asarray(im.convert("RGB"))
    except FileNotFoundError:
        raise DataError(f"image not found: {path}") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as e:
        raise DataError(f"cannot read image {path} (corrupt or not an image?): {e or 'empty or truncated'}") from None
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    elif arr.ndim == 3 and arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise DataError(f"image {path} has shape {arr.shape}; expected H x W, H x W x 1 or H x W x 3")
    return np.ascontiguousarray(arr[:, :, :3])


def read_mask(path):
    """A ``H x W`` integer label map (values as stored: class ids, or 0/255)."""
    try:
        if path.lower().endswith(".npy"):
            arr = np.load(path)
        else:
            with Image.open(path) as im:
                arr = np.asarray(im)
    except FileNotFoundError:
        raise DataError(f"mask not found: {path}") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as e:
        raise DataError(f"cannot read mask {path} (corrupt or not an image?): {e or 'empty or truncated'}") from None
    if arr.ndim == 3:
        if arr.shape[2] >= 3 and not (np.array_equal(arr[..., 0], arr[..., 1])
                                      and np.array_equal(arr[..., 0], arr[..., 2])):
            raise DataError(f"mask {path} is a colour image; store masks as one channel of class ids or 0/255")
        arr = arr[..., 0]
    if arr.ndim != 2:
        raise DataError(f"mask {path} has shape {arr.shape}; expected H x W")
    if arr.dtype.kind == "f":
        if not np.all(np.mod(arr, 1) == 0):
            raise DataError(f"mask {path} holds non-integer values; masks must hold class ids")
    return arr.astype(np.int64)


def find_with_stem(folder, stem, exts=IMAGE_EXTS):
    """The one file in ``folder`` named ``stem`` + a known extension, or None."""
    hits = [stem + e for e in exts if os.path.isfile(os.path.join(folder, stem + e))]
    hits += [stem + e.upper() for e in exts if os.path.isfile(os.path.join(folder, stem + e.upper()))]
    hits = sorted(set(hits))
    if len(hits) > 1:
        raise DataError(f"{folder} has several files for {stem!r}: {', '.join(hits)}; keep one")
    return os.path.join(folder, hits[0]) if hits else None
