"""``demo``: a synthetic, CT-like phantom dataset generated deterministically on first use.

Each "patient" is an abdomen-like cross-section: air, a body outline with a fat layer and skin, a vertebra
(bone ring) with ribs, liver, kidneys and bowel-like blobs, and a small lobulated soft-tissue target (the
foreground, like the pancreas) whose shape and size drift from slice to slice and which is absent from some
slices.  Intensities carry smooth texture and noise.  The files are written in the original layout
(``data/*.png``, ``label/*.npy``, ``{train,val,test}_label.json``) under ``{data_root}/data-demo``, so the demo
exercises the same reader as the original datasets.  Everything derives from a fixed seed: two machines
generate the same files.
"""
import json
import os
import shutil
import tempfile

import numpy as np
from PIL import Image
from tqdm import tqdm

from .base import stamp_matches
from .original import read_original_split
from .registry import register_dataset

DEMO_DIRNAME = "data-demo"
GENERATOR_VERSION = 1
DEFAULTS = dict(size=128, patients=(8, 2, 2), slices=6, seed=2021)


def _ellipse(yy, xx, cy, cx, ry, rx, angle=0.0):
    c, s = np.cos(angle), np.sin(angle)
    y, x = yy - cy, xx - cx
    u, v = x * c + y * s, -x * s + y * c
    return (u / rx) ** 2 + (v / ry) ** 2 <= 1.0


def _smooth_noise(rng, size, scale):
    """Band-limited texture in [-1, 1]: white noise low-passed in the Fourier domain."""
    noise = rng.standard_normal((size, size))
    f = np.fft.fftfreq(size)
    radius = np.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    smooth = np.real(np.fft.ifft2(np.fft.fft2(noise) * np.exp(-(radius * scale) ** 2)))
    return smooth / (np.abs(smooth).max() + 1e-8)


def phantom_slice(rng, anatomy, z, size):
    """One (image float in [0, 1], mask uint8 {0, 1}) slice of a patient at relative height z in [0, 1]."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    a = anatomy
    img = np.full((size, size), 0.02)
    body = _ellipse(yy, xx, a["cy"], a["cx"], a["ry"], a["rx"])
    inner = _ellipse(yy, xx, a["cy"], a["cx"], a["ry"] - a["fat"], a["rx"] - a["fat"])
    img[body] = 0.97  # skin line, overwritten inside
    img[_ellipse(yy, xx, a["cy"], a["cx"], a["ry"] - 1.2, a["rx"] - 1.2)] = 0.28  # subcutaneous fat
    img[inner] = 0.45  # soft tissue
    # Liver (image left), kidneys (posterior), bowel loops.
    img[_ellipse(yy, xx, a["liver"][0], a["liver"][1], a["liver"][2] * (1.1 - 0.3 * z), a["liver"][3], 0.3) & inner] = 0.55
    for ky, kx in a["kidneys"]:
        img[_ellipse(yy, xx, ky, kx, 0.075 * size, 0.05 * size, 0.4 if kx > a["cx"] else -0.4)] = 0.62
    for by, bx, br in a["bowel"]:
        img[_ellipse(yy, xx, by + 3 * z, bx, br, br * 1.3)] = 0.38
    # Vertebra: a bone ring with a darker marrow core, and ribs near the outline.
    vy, vx = a["cy"] + 0.55 * a["ry"], a["cx"]
    img[_ellipse(yy, xx, vy, vx, 0.085 * size, 0.085 * size)] = 0.92
    img[_ellipse(yy, xx, vy, vx, 0.05 * size, 0.05 * size)] = 0.6
    for ang in a["ribs"]:
        ry, rx = a["cy"] + 0.86 * (a["ry"] - a["fat"]) * np.sin(ang), a["cx"] + 0.86 * (a["rx"] - a["fat"]) * np.cos(ang)
        img[_ellipse(yy, xx, ry, rx, 0.022 * size, 0.03 * size, ang)] = 0.9
    # Target: lobulated blob whose size follows a bump over z (absent near the ends).
    t = a["target"]
    scale = np.clip(1.0 - ((z - t["z0"]) / t["width"]) ** 2, 0.0, None)
    mask = np.zeros((size, size), bool)
    if scale > 0.15:
        for dy, dx, ry, rx, ang in t["lobes"]:
            mask |= _ellipse(yy, xx, t["cy"] + dy + 2.0 * z, t["cx"] + dx - 2.0 * z,
                             ry * (0.5 + 0.5 * scale), rx * (0.5 + 0.5 * scale), ang + 0.3 * z)
        mask &= inner
    granular = 0.05 * _smooth_noise(rng, size, 14.0)
    img[mask] = 0.72 + granular[mask]
    # Texture everywhere inside the body, then acquisition noise.
    img += np.where(body, 0.04 * _smooth_noise(rng, size, 6.0), 0.0)
    img += rng.normal(0.0, 0.03, img.shape)
    return np.clip(img, 0.0, 1.0), mask.astype(np.uint8)


def _anatomy(rng, size):
    s = size
    cy, cx = s * (0.5 + rng.uniform(-0.03, 0.03)), s * (0.5 + rng.uniform(-0.03, 0.03))
    ry, rx = s * rng.uniform(0.33, 0.38), s * rng.uniform(0.42, 0.46)
    lobes = []
    for _ in range(rng.integers(2, 4)):
        lobes.append((rng.uniform(-2, 2) * s / 128, rng.uniform(-9, 9) * s / 128,
                      rng.uniform(4.5, 7.0) * s / 128, rng.uniform(7.0, 11.0) * s / 128, rng.uniform(-0.5, 0.5)))
    return dict(
        cy=cy, cx=cx, ry=ry, rx=rx, fat=s * rng.uniform(0.035, 0.05),
        liver=(cy - 0.1 * ry, cx - 0.45 * rx, 0.45 * ry, 0.35 * rx),
        kidneys=[(cy + 0.35 * ry, cx - 0.45 * rx), (cy + 0.35 * ry, cx + 0.45 * rx)],
        bowel=[(cy - rng.uniform(0.3, 0.6) * ry, cx + rng.uniform(-0.2, 0.6) * rx, s * rng.uniform(0.03, 0.05))
               for _ in range(3)],
        ribs=list(rng.uniform(0.2, 1.1, 2)) + list(np.pi - rng.uniform(0.2, 1.1, 2)),
        target=dict(cy=cy + rng.uniform(0.0, 0.2) * ry, cx=cx + rng.uniform(0.0, 0.25) * rx,
                    z0=rng.uniform(0.4, 0.6), width=rng.uniform(0.55, 0.75), lobes=lobes),
    )


def generate(out_dir, size=DEFAULTS["size"], patients=DEFAULTS["patients"], slices=DEFAULTS["slices"],
             seed=DEFAULTS["seed"], progress=True):
    """Write the demo set to ``out_dir`` (atomically: a temporary folder renamed at the end)."""
    rng = np.random.default_rng(seed)
    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".demo-", dir=parent)
    os.makedirs(os.path.join(tmp, "data"))
    os.makedirs(os.path.join(tmp, "label"))
    total = sum(patients) * slices
    bar = tqdm(total=total, desc="generating demo data", disable=not progress, unit="slice")
    pid = 0
    for split, n_patients in zip(("train", "val", "test"), patients):
        tree = {}
        for _ in range(n_patients):
            person = f"P{pid:03d}"
            pid += 1
            anatomy = _anatomy(rng, size)
            names = []
            for k in range(slices):
                z = (k + 0.5) / slices
                img, mask = phantom_slice(rng, anatomy, z, size)
                name = f"{person}_{k:02d}.npy"
                Image.fromarray(np.round(img * 255).astype(np.uint8)).save(
                    os.path.join(tmp, "data", name.replace(".npy", ".png")))
                np.save(os.path.join(tmp, "label", name), mask)
                names.append(name)
                bar.update(1)
            tree[person] = {"scan0": {"list": names}}
        with open(os.path.join(tmp, f"{split}_label.json"), "w") as f:
            json.dump(tree, f, indent=1)
    bar.close()
    with open(os.path.join(tmp, "demo_version.json"), "w") as f:
        json.dump(_stamp(size, patients, slices, seed), f)
    if os.path.exists(out_dir):
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)
    return out_dir


def _stamp(size, patients, slices, seed):
    return dict(version=GENERATOR_VERSION, size=size, patients=list(patients), slices=slices, seed=seed)


def ensure_demo(data_root, progress=True):
    """The demo folder under ``data_root``, generated when missing or made by another generator version."""
    out_dir = os.path.join(data_root, DEMO_DIRNAME)
    stamp_path = os.path.join(out_dir, "demo_version.json")
    expected = _stamp(DEFAULTS["size"], DEFAULTS["patients"], DEFAULTS["slices"], DEFAULTS["seed"])
    if stamp_matches(stamp_path, expected):
        return out_dir
    return generate(out_dir, progress=progress)


@register_dataset("demo", description="synthetic CT-like phantoms, generated under --data-root on first use")
def read_demo_split(split, data_root):
    return read_original_split(ensure_demo(data_root), split, ".png")
