"""The original JMedSeg layout: ``{root}/{split}_label.json`` + ``data/`` images + ``label/`` ``.npy`` masks.

A split file maps ``{person_id: {scan_id: {"list": [mask names]}}}``; only names ending in ``.npy`` are used.
The mask of a name is ``root/label/<name>``; its image is ``root/data/<name>`` with ``.npy`` replaced by the
dataset's image suffix.  The person id is the case (patient) for per-case metrics.
"""
import json
import os
import re

from utils.errors import DataError
from .base import SPLITS, Sample
from .registry import register_dataset

# --dataset name -> (folder under --data-root, image suffix); the folder names of the original's download.
ORIGINAL_DATASETS = {
    "xh": ("data-lumber/data-XH", ".jpg"),
    "xh_hard": ("data-lumber/data-hard", ".jpg"),
    "zs_big": ("data-lumber/data-ZS/Big", ".jpg"),
    "zs_small": ("data-lumber/data-ZS/Small", ".jpg"),
    "pancreas": ("data-pancreas", ".png"),
}


def read_original_split(root, split, suffix):
    """Samples of ``split`` in an original-layout folder ``root``."""
    path = os.path.join(root, f"{split}_label.json")
    if not os.path.isfile(path):
        raise DataError(f"split file not found: {path}. The original layout needs {', '.join(f'{s}_label.json' for s in SPLITS)} "
                        f"with data/ and label/ beside them (see README, 'Datasets').")
    try:
        with open(path) as f:
            tree = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise DataError(f"cannot read split file {path}: {e}") from None
    if not isinstance(tree, dict):
        raise DataError(f"{path}: expected {{person: {{scan: {{\"list\": [...]}}}}}}")
    samples = []
    for person, scans in tree.items():
        if not isinstance(scans, dict):
            raise DataError(f"{path}: entry {person!r} is not a {{scan: {{\"list\": [...]}}}} mapping")
        for scan, entry in scans.items():
            names = entry.get("list") if isinstance(entry, dict) else None
            if not isinstance(names, list):
                raise DataError(f"{path}: {person}/{scan} has no \"list\" of file names")
            for name in names:
                if not str(name).lower().endswith(".npy"):
                    continue
                image_name = re.sub(r"\.npy$", suffix, name, flags=re.IGNORECASE)
                samples.append(Sample(stem=os.path.splitext(name)[0].replace("/", "__"),
                                      image=os.path.join(root, "data", image_name),
                                      mask=os.path.join(root, "label", name),
                                      case=str(person)))
    if not samples:
        raise DataError(f"{path} lists no .npy masks")
    return samples


def _register(name, folder, suffix):
    def read(split, data_root):
        root = os.path.join(data_root, folder)
        if not os.path.isdir(root):
            if not os.path.isdir(data_root):
                raise DataError(f"data root {data_root!r} does not exist; pass --data-root DIR "
                                f"(the folder that holds {folder.split('/')[0]}/)")
            raise DataError(f"dataset {name!r} not found: {root} does not exist. Unpack the original data under "
                            f"--data-root ({data_root}) so that {folder}/ holds the split files.")
        return read_original_split(root, split, suffix)
    register_dataset(name, description=f"the original's {name} data ({folder}/ under --data-root)")(read)


for _name, (_folder, _suffix) in ORIGINAL_DATASETS.items():
    _register(_name, _folder, _suffix)
