"""Robustness benchmark (``run.py --mode robust``): test-split metrics under named perturbations.

Every perturbation is ``perturb(image, mask, strength, rng=None) -> (image, mask)`` on a uint8 ``H x W x 3``
image and its ``H x W`` label map (or None), registered in :data:`PERTURBATIONS` by the :func:`perturbation`
decorator, which checks the strength and returns unchanged copies at strength 0 for all of them.
``strength`` runs from 0 (the image unchanged) to 1 (the strongest setting below); geometric perturbations
move the mask with the image (nearest neighbour, pixels from outside = background), the others leave it alone.  Sizes are relative to the image (except the moire
gratings, which are pixel-level like a real screen's), so a strength means the same on 128 and 512 px slices.

=============  ==============================================================================================
name           at strength s
=============  ==============================================================================================
brightness     + 100 s grey levels
contrast       contrast around the mean grey level scaled by 1 - 0.7 s
gamma          I -> 255 (I / 255) ** (1 + 2 s)
noise          additive Gaussian noise, sigma 40 s grey levels
blur           Gaussian blur, sigma 0.025 s x image size (3.2 px at 128)
jpeg           JPEG re-encoding at quality 100 - 95 s
rotation       rotation by 45 s degrees about the centre
scale          zoom out to 1 - 0.5 s about the centre
translation    shift by 0.2 s x the size, right and down
screen_photo   a phone photo of a monitor: perspective warp (corners moved by up to 0.1 s x size) onto a
               dark bezel, a moire pattern (two beating gratings, amplitude 35 s), a warm colour cast
               (R x (1 + 0.25 s), B x (1 - 0.2 s)), camera blur and sensor noise
=============  ==============================================================================================

:class:`Perturbation` is one perturbation at one strength as a random transform (:mod:`advance.transforms`).
The benchmark itself (``pipeline/evaluate.py``) evaluates a model on the test split for every perturbation and
strength and writes its rows with :func:`write_csv`, :func:`table`, :func:`plot` and :func:`example_sheet`:
``{prefix}.csv`` (one row per perturbation and strength), ``{prefix}.md`` (foreground Dice table),
``{prefix}.png`` (Dice against strength) and ``{prefix}-examples.png`` (one test image under every
perturbation).  :func:`compare` puts several such CSVs (e.g. UNet and UNet+SAS) into one table and plot
(``python -m advance.robust compare``).
"""
import argparse
import csv
import functools
import os
import sys

import cv2
import numpy as np
from matplotlib.figure import Figure

from utils.atomic import atomic_write_csv, atomic_write_text
from utils.errors import ConfigError
from utils.registry import Registry
from utils.visualize import save_figure

from .transforms import RandomTransform, generator, warp_matrix

STRENGTHS = (0.0, 0.25, 0.5, 0.75, 1.0)
METRICS = ("mDice", "mIoU", "dice_fg", "iou_fg", "dice_case")

PERTURBATIONS = Registry("perturbation")


def check_strength(strength):
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be in [0, 1], got {strength}")


def perturbation(name, geometric=False):
    """Decorator: register ``fn(image, mask, strength, rng) -> (image, mask)`` as the perturbation ``name``.

    The registered (and returned) function checks ``strength`` (in [0, 1]), returns copies of its inputs at
    strength 0, and passes ``fn`` a generator (its own, seeded 0, when ``rng`` is None). ``geometric``: the
    perturbation moves the mask with the image. Both are attributes of the function.
    """
    def wrap(fn):
        @functools.wraps(fn)
        def perturb(image, mask, strength, rng=None):
            check_strength(strength)
            if strength == 0:
                return image.copy(), (None if mask is None else mask.copy())
            return fn(image, mask, float(strength), generator(rng))
        perturb.geometric = bool(geometric)
        PERTURBATIONS.add(name, perturb)
        return perturb
    return wrap


class Perturbation(RandomTransform):
    """The perturbation ``name`` at ``strength`` as a transform ``(image, mask) -> (image, mask)``."""

    def __init__(self, name, strength, rng=None):
        super().__init__(1.0, rng)
        check_strength(strength)
        self.name, self.strength, self.fn = name, float(strength), PERTURBATIONS.get(name, "--perturb")

    def apply(self, image, mask):
        return self.fn(image, mask, self.strength, self.rng)


def _u8(img):
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------------------- intensity
@perturbation("brightness")
def brightness(image, mask, strength, rng):
    return _u8(image.astype(np.float32) + 100.0 * strength), mask


@perturbation("contrast")
def contrast(image, mask, strength, rng):
    img = image.astype(np.float32)
    mean = img.mean()
    return _u8(mean + (img - mean) * (1.0 - 0.7 * strength)), mask


@perturbation("gamma")
def gamma(image, mask, strength, rng):
    return _u8(255.0 * (image.astype(np.float32) / 255.0) ** (1.0 + 2.0 * strength)), mask


@perturbation("noise")
def noise(image, mask, strength, rng):
    n = rng.normal(0.0, 40.0 * strength, image.shape[:2])[..., None]  # grey noise, like CT
    return _u8(image.astype(np.float32) + n), mask


@perturbation("blur")
def blur(image, mask, strength, rng):
    sigma = 0.025 * strength * max(image.shape[:2])
    return cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma), mask


@perturbation("jpeg")
def jpeg(image, mask, strength, rng):
    quality = int(round(100 - 95 * strength))
    ok, buf = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]), mask


# --------------------------------------------------------------------------------------------------- geometry
def _about_centre(image, angle, zoom):
    h, w = image.shape[:2]
    return cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, zoom)


@perturbation("rotation", geometric=True)
def rotation(image, mask, strength, rng):
    return warp_matrix(image, mask, _about_centre(image, 45.0 * strength, 1.0))


@perturbation("scale", geometric=True)
def scale(image, mask, strength, rng):
    return warp_matrix(image, mask, _about_centre(image, 0.0, 1.0 - 0.5 * strength))


@perturbation("translation", geometric=True)
def translation(image, mask, strength, rng):
    h, w = image.shape[:2]
    return warp_matrix(image, mask, np.float32([[1, 0, 0.2 * strength * w], [0, 1, 0.2 * strength * h]]))


# Corner displacements (fractions of the size, pointing inwards) of the screen-photo perspective at strength 1:
# top-left, top-right, bottom-right, bottom-left, each (dx, dy).
_SCREEN_CORNERS = np.array([[0.10, 0.06], [-0.04, 0.10], [-0.08, -0.03], [0.02, -0.08]])


@perturbation("screen_photo", geometric=True)
def screen_photo(image, mask, strength, rng):
    """A photo of the image shown on a monitor: keystone perspective, moire, colour cast, blur, noise."""
    s = strength
    h, w = image.shape[:2]
    src = np.float32([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]])
    dst = np.float32(src + _SCREEN_CORNERS * s * np.array([w, h]))
    img, mask = warp_matrix(image, mask, cv2.getPerspectiveTransform(src, dst), border=25)  # dark bezel
    img = img.astype(np.float32)
    # Moire: two fine gratings at slightly different frequencies and angles beat into a coarse pattern.
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    g1 = np.sin(2 * np.pi * 0.31 * (xx * np.cos(0.20) + yy * np.sin(0.20)))
    g2 = np.sin(2 * np.pi * 0.33 * (xx * np.cos(0.26) + yy * np.sin(0.26)))
    img += (35.0 * s * 0.5 * (g1 + g2))[..., None]
    # Warm colour cast of the room light / white balance, a slightly lifted black level.
    img = img * np.array([1 + 0.25 * s, 1 + 0.05 * s, 1 - 0.2 * s], np.float32) + 10.0 * s
    sigma = 0.006 * s * max(h, w)
    img = cv2.GaussianBlur(img, (0, 0), sigmaX=sigma, sigmaY=sigma)
    img += rng.normal(0.0, 6.0 * s, img.shape)
    return _u8(img), mask


def parse_perturbations(spec):
    """``"noise,blur"`` / ``"all"`` / None -> list of names; an unknown name raises :class:`ConfigError`."""
    return PERTURBATIONS.parse_list(spec or "all", "--perturb")


def parse_strengths(spec):
    """``"0,0.5,1"`` -> sorted floats in [0, 1], 0 always included (the clean score)."""
    if spec is None:
        return list(STRENGTHS)
    try:
        values = sorted({float(s) for s in str(spec).split(",") if s.strip()} | {0.0})
    except ValueError:
        raise ConfigError(f"--strengths must be numbers separated by commas, got {spec!r}") from None
    bad = [v for v in values if not 0.0 <= v <= 1.0]
    if bad:
        raise ConfigError(f"--strengths must lie in [0, 1], got {', '.join(f'{v:g}' for v in bad)}")
    return values


# --------------------------------------------------------------------------------------------------- tables
def write_csv(rows, path):
    atomic_write_csv(path, rows, ["perturbation", "strength", *METRICS], float_format="{:.6f}",
                     formats={"strength": "{}"})


def read_csv(path):
    with open(path, newline="") as f:
        return [{k: (v if k == "perturbation" else float(v)) for k, v in r.items()} for r in csv.DictReader(f)]


def table(rows, metric="dice_fg", title=None):
    """Markdown: one row per perturbation, one column per strength, plus the mean over strengths > 0."""
    names = list(dict.fromkeys(r["perturbation"] for r in rows))
    strengths = sorted({r["strength"] for r in rows})
    value = {(r["perturbation"], r["strength"]): r[metric] for r in rows}
    lines = [f"**{title}**" if title else f"{metric} under perturbation", "",
             "| perturbation | " + " | ".join(f"s={s:g}" for s in strengths) + " | mean (s>0) |",
             "|---|" + "---|" * (len(strengths) + 1)]
    for n in names:
        vals = [value.get((n, s), float("nan")) for s in strengths]
        mean = np.nanmean([v for s, v in zip(strengths, vals) if s > 0]) if len(strengths) > 1 else float("nan")
        lines.append(f"| {n} | " + " | ".join(f"{v:.4f}" for v in vals) + f" | {mean:.4f} |")
    return "\n".join(lines) + "\n"


def plot(series, path, metric="dice_fg", title=""):
    """Dice against strength, one panel per perturbation; ``series`` = {label: rows}."""
    names = list(dict.fromkeys(r["perturbation"] for rows in series.values() for r in rows))
    cols = min(5, len(names))
    nrows = -(-len(names) // cols)
    fig = Figure(figsize=(3.0 * cols, 2.5 * nrows))
    axes = fig.subplots(nrows, cols, sharey=True, squeeze=False)
    for ax, name in zip(axes.ravel(), names):
        for label, rows in series.items():
            pts = sorted((r["strength"], r[metric]) for r in rows if r["perturbation"] == name)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3, label=label)
        ax.set_title(name, fontsize=9)
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel(metric)
    for ax in axes[-1]:
        ax.set_xlabel("strength")
    axes[0, 0].legend(fontsize=7, loc="lower left")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)


def example_sheet(image, mask, path, names=None, strengths=(0.5, 1.0), seed=0):
    """One image under every perturbation (rows: strengths; ground-truth contour in red)."""
    names = list(names or PERTURBATIONS.names(sort=False))
    fig = Figure(figsize=(1.8 * (len(names) + 1), 1.9 * len(strengths)))
    axes = fig.subplots(len(strengths), len(names) + 1, squeeze=False)
    for i, s in enumerate(strengths):
        axes[i, 0].imshow(image)
        if mask is not None and mask.any():
            axes[i, 0].contour(mask > 0, levels=[0.5], colors="red", linewidths=0.6)
        axes[i, 0].set_title("clean" if i == 0 else "", fontsize=8)
        for j, name in enumerate(names, start=1):
            img, m = PERTURBATIONS[name](image, mask, s, np.random.default_rng([seed, 0]))
            axes[i, j].imshow(img)
            if m is not None and m.any():
                axes[i, j].contour(m > 0, levels=[0.5], colors="red", linewidths=0.6)
            axes[i, j].set_title(f"{name} {s:g}", fontsize=7)
        for ax in axes[i]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    save_figure(fig, path)


def compare(csv_paths, labels, out_prefix, metric="dice_fg"):
    """One markdown table (mean over strengths > 0 and value at the strongest, per model) and one plot."""
    series = {label: read_csv(p) for label, p in zip(labels, csv_paths)}
    names = list(dict.fromkeys(r["perturbation"] for rows in series.values() for r in rows))
    top = max(r["strength"] for rows in series.values() for r in rows)
    head = "| perturbation | " + " | ".join(f"{l} mean | {l} s={top:g}" for l in labels) + " |"
    lines = [f"{metric}: mean over strengths > 0, and at the strongest setting", "", head,
             "|---|" + "---|" * (2 * len(labels))]
    clean = []
    for label in labels:
        clean += [f"{_value(series[label], names[0], 0.0, metric):.4f}", ""]
    lines.append("| clean (s=0) | " + " | ".join(clean) + " |")
    for n in names:
        cells = []
        for label in labels:
            vals = [r[metric] for r in series[label] if r["perturbation"] == n and r["strength"] > 0]
            cells += [f"{np.mean(vals):.4f}" if vals else "-", f"{_value(series[label], n, top, metric):.4f}"]
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    means = []
    for label in labels:
        vals = [r[metric] for r in series[label] if r["strength"] > 0]
        means += [f"**{np.mean(vals):.4f}**", ""]
    lines.append("| all perturbations | " + " | ".join(means) + " |")
    text = "\n".join(lines) + "\n"
    atomic_write_text(text, out_prefix + ".md")
    plot(series, out_prefix + ".png", metric, " vs ".join(labels))
    return text


def _value(rows, name, strength, metric):
    for r in rows:
        if r["perturbation"] == name and abs(r["strength"] - strength) < 1e-9:
            return r[metric]
    return float("nan")


def main(argv=None):
    p = argparse.ArgumentParser(description="Compare robustness CSVs written by run.py --mode robust.")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compare", help="one table and plot for several models")
    c.add_argument("csv", nargs="+", help="{result_dir}/...-robust-....csv files")
    c.add_argument("--labels", nargs="+", help="one label per CSV (default: file names)")
    c.add_argument("--out", default="result/robust-compare", help="output prefix (.md and .png are added)")
    c.add_argument("--metric", default="dice_fg", choices=METRICS)
    args = p.parse_args(argv)
    labels = args.labels or [os.path.splitext(os.path.basename(x))[0] for x in args.csv]
    if len(labels) != len(args.csv):
        p.error("give one --labels entry per CSV")
    print(compare(args.csv, labels, args.out, args.metric))
    print(f"written: {args.out}.md, {args.out}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
