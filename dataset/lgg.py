"""The LGG brain-MRI layout of Kaggle's ``kaggle_3m`` (TCGA lower-grade glioma FLAIR slices).

::

    root/<patient>/<patient>_<n>.tif        3-channel slice n of the patient
    root/<patient>/<patient>_<n>_mask.tif   its mask (0/255)

Patients are the cases (per-volume metrics stack a patient's slices); they are split 70/15/15 by a fixed seed,
so a patient's slices never straddle splits.  Slices are ordered by their number, not by name.
"""
import os
import re

from utils.errors import DataError
from .base import Sample
from .folder import seeded_split
from .registry import register_layout

_SLICE = re.compile(r"^(?P<patient>.+)_(?P<n>\d+)\.tiff?$", re.IGNORECASE)


def is_lgg_dataset(path):
    """True when ``path`` holds patient folders with ``*_mask.tif`` files."""
    if not os.path.isdir(path) or os.path.isdir(os.path.join(path, "images")):
        return False
    for name in sorted(os.listdir(path))[:20]:
        sub = os.path.join(path, name)
        if os.path.isdir(sub) and any(f.lower().endswith(("_mask.tif", "_mask.tiff")) for f in os.listdir(sub)):
            return True
    return False


def _patient_samples(folder, patient):
    samples = []
    for name in os.listdir(folder):
        m = _SLICE.match(name)
        if not m or m.group("patient") != patient or name.lower().endswith(("_mask.tif", "_mask.tiff")):
            continue
        stem = os.path.splitext(name)[0]
        ext = os.path.splitext(name)[1]
        samples.append((int(m.group("n")), Sample(stem=stem, image=os.path.join(folder, name),
                                                  mask=os.path.join(folder, f"{stem}_mask{ext}"), case=patient)))
    return [s for _, s in sorted(samples, key=lambda t: t[0])]


@register_layout("lgg", detect=is_lgg_dataset,
                 description="patient folders with <patient>_<n>.tif and <patient>_<n>_mask.tif")
def read_lgg_split(root, split):
    patients = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    assign = seeded_split(patients)
    samples = []
    for p in patients:
        if assign[p] == split:
            samples.extend(_patient_samples(os.path.join(root, p), p))
    if not samples:
        raise DataError(f"{root}: the {split} split of this LGG-layout dataset is empty")
    return samples
