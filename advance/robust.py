"""Robustness benchmark (``run.py --mode robust``): test-split metrics under named perturbations.

Every perturbation is ``perturb(image, mask, strength, rng=None) -> (image, mask)`` on a uint8 ``H x W x 3``
image and its ``H x W`` label map (or None).  ``strength`` runs from 0 (the image unchanged) to 1 (the
strongest setting below); geometric perturbations move the mask with the image (nearest neighbour, pixels
from outside = background), the others leave it alone.  Sizes are relative to the image (except the moire
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

:func:`run_benchmark` evaluates a model on the test split for every perturbation and strength (the clean
score, strength 0, is computed once) with :func:`utils.engine.evaluate`, and writes ``{prefix}.csv`` (one row
per perturbation and strength), ``{prefix}.md`` (foreground Dice table), ``{prefix}.png`` (Dice against
strength) and ``{prefix}-examples.png`` (one test image under every perturbation).  :func:`compare` puts
several such CSVs (e.g. UNet and UNet+SAS) into one table and plot (``python -m advance.robust compare``).
"""
import csv
import io
import os

import cv2
import numpy as np

STRENGTHS = (0.0, 0.25, 0.5, 0.75, 1.0)
METRICS = ("mDice", "mIoU", "dice_fg", "iou_fg", "dice_case")


def _rng(rng):
    return rng if rng is not None else np.random.default_rng(0)


def _u8(img):
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def _check(strength):
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be in [0, 1], got {strength}")


def _identity(image, mask):
    return image.copy(), (None if mask is None else mask.copy())


def _warp_affine(image, mask, matrix, border=0):
    h, w = image.shape[:2]
    out = cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                         borderValue=(border,) * 3)
    if mask is not None:
        m = cv2.warpAffine(mask.astype(np.float32), matrix, (w, h), flags=cv2.INTER_NEAREST,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        mask = np.round(m).astype(mask.dtype)
    return out, mask


# --------------------------------------------------------------------------------------------------- intensity
def brightness(image, mask, strength, rng=None):
    _check(strength)
    if strength == 0:
        return _identity(image, mask)
    return _u8(image.astype(np.float32) + 100.0 * strength), mask


def contrast(image, mask, strength, rng=None):
    _check(strength)
    if strength == 0:
        return _identity(image, mask)
    img = image.astype(np.float32)
    mean = img.mean()
    return _u8(mean + (img - mean) * (1.0 - 0.7 * strength)), mask


def gamma(image, mask, strength, rng=None):
    _check(strength)
    if strength == 0:
        return _identity(image, mask)
    return _u8(255.0 * (image.astype(np.float32) / 255.0) ** (1.0 + 2.0 * strength)), mask


def noise(image, mask, strength, rng=None):
    _check(strength)
    if strength == 0:
        return _identity(image, mask)
    n = _rng(rng).normal(0.0, 40.0 * strength, image.shape[:2])[..., None]  # grey noise, like CT
    return _u8(image.astype(np.float32) + n), mask


def blur(image, mask, strength, rng=None):
    _check(strength)
    if strength == 0:
        return _identity(image, mask)
    sigma = 0.025 * strength * max(image.shape[:2])
    return cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma), mask


def jpeg(image, mask, strength, rng=None):
    _check(strength)
    if strength == 0:
        return _identity(image, mask)
    quality = int(round(100 - 95 * strength))
    ok, buf = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]), mask


# --------------------------------------------------------------------------------------------------- geometry
def rotation(image, mask, strength, rng=None):
    _check(strength)
    if strength == 0:
        return _identity(image, mask)
    h, w = image.shape[:2]
    return _warp_affine(image, mask, cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), 45.0 * strength, 1.0))


def scale(image, mask, strength, rng=None):
    _check(strength)
    if strength == 0:
        return _identity(image, mask)
    h, w = image.shape[:2]
    return _warp_affine(image, mask, cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), 0.0, 1.0 - 0.5 * strength))


def translation(image, mask, strength, rng=None):
    _check(strength)
    if strength == 0:
        return _identity(image, mask)
    h, w = image.shape[:2]
    return _warp_affine(image, mask, np.float32([[1, 0, 0.2 * strength * w], [0, 1, 0.2 * strength * h]]))


# Corner displacements (fractions of the size, pointing inwards) of the screen-photo perspective at strength 1:
# top-left, top-right, bottom-right, bottom-left, each (dx, dy).
_SCREEN_CORNERS = np.array([[0.10, 0.06], [-0.04, 0.10], [-0.08, -0.03], [0.02, -0.08]])


def screen_photo(image, mask, strength, rng=None):
    """A photo of the image shown on a monitor: keystone perspective, moire, colour cast, blur, noise."""
    _check(strength)
    if strength == 0:
        return _identity(image, mask)
    s = strength
    h, w = image.shape[:2]
    src = np.float32([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]])
    dst = np.float32(src + _SCREEN_CORNERS * s * np.array([w, h]))
    matrix = cv2.getPerspectiveTransform(src, dst)
    bezel = 25
    img = cv2.warpPerspective(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                              borderValue=(bezel,) * 3).astype(np.float32)
    if mask is not None:
        m = cv2.warpPerspective(mask.astype(np.float32), matrix, (w, h), flags=cv2.INTER_NEAREST,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        mask = np.round(m).astype(mask.dtype)
    # Moire: two fine gratings at slightly different frequencies and angles beat into a coarse pattern.
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    g1 = np.sin(2 * np.pi * 0.31 * (xx * np.cos(0.20) + yy * np.sin(0.20)))
    g2 = np.sin(2 * np.pi * 0.33 * (xx * np.cos(0.26) + yy * np.sin(0.26)))
    img += (35.0 * s * 0.5 * (g1 + g2))[..., None]
    # Warm colour cast of the room light / white balance, a slightly lifted black level.
    img = img * np.array([1 + 0.25 * s, 1 + 0.05 * s, 1 - 0.2 * s], np.float32) + 10.0 * s
    sigma = 0.006 * s * max(h, w)
    img = cv2.GaussianBlur(img, (0, 0), sigmaX=sigma, sigmaY=sigma)
    img += _rng(rng).normal(0.0, 6.0 * s, img.shape)
    return _u8(img), mask


PERTURBATIONS = {
    "brightness": brightness, "contrast": contrast, "gamma": gamma, "noise": noise, "blur": blur, "jpeg": jpeg,
    "rotation": rotation, "scale": scale, "translation": translation, "screen_photo": screen_photo,
}


def parse_perturbations(spec):
    """``"noise,blur"`` / ``"all"`` / None -> list of names; an unknown name raises ValueError listing them."""
    if not spec or spec == "all":
        return list(PERTURBATIONS)
    names = [s.strip() for s in spec.split(",") if s.strip()]
    bad = [n for n in names if n not in PERTURBATIONS]
    if bad:
        raise ValueError(f"unknown perturbation {', '.join(bad)}; use any of {', '.join(PERTURBATIONS)} or all")
    return names


def parse_strengths(spec):
    """``"0,0.5,1"`` -> sorted floats in [0, 1], 0 always included (the clean score)."""
    if spec is None:
        return list(STRENGTHS)
    try:
        values = sorted({float(s) for s in str(spec).split(",") if s.strip()} | {0.0})
    except ValueError:
        raise ValueError(f"strengths must be numbers separated by commas, got {spec!r}") from None
    for v in values:
        _check(v)
    return values


# --------------------------------------------------------------------------------------------------- benchmark
def perturbed_split(data, name, strength, seed=0):
    """A copy of the SegDataset ``data`` whose samples (image and mask) are perturbed; random parts are drawn
    from a generator seeded by (seed, sample index), so every model sees the same perturbed images."""
    from dataset import SegDataset

    fn = PERTURBATIONS[name]

    class Perturbed(SegDataset):
        def load(self, index):
            if index not in self._cache:
                image, mask = data.load(index)
                self._cache[index] = fn(image, mask, strength, np.random.default_rng([seed, index]))
            return self._cache[index]

    kw = dict(n_classes=data.n_classes, img_size=data.img_size, batch_size=data.batch_size,
              need_masks=data.need_masks)
    if hasattr(data, "label_map"):
        kw["label_map"] = data.label_map
    return Perturbed(data.samples, **kw)


def benchmark(model, data, n_classes, perturbations=None, strengths=STRENGTHS, seed=0, evaluate_kw=None):
    """Rows ``{perturbation, strength, mDice, mIoU, dice_fg, iou_fg, dice_case}`` for every perturbation and
    strength; strength 0 is the clean test split (evaluated once)."""
    from tqdm import tqdm
    from utils.engine import evaluate

    names = list(perturbations or PERTURBATIONS)
    strengths = sorted(set(strengths) | {0.0})
    evaluate_kw = evaluate_kw or {}
    clean = evaluate(model, data, n_classes, surface=False, desc="clean", **evaluate_kw)
    rows = []
    jobs = [(n, s) for n in names for s in strengths if s > 0]
    bar = tqdm(jobs, desc="perturbations", unit="setting", leave=False)
    for name in names:
        rows.append(dict(perturbation=name, strength=0.0, **{k: float(clean[k]) for k in METRICS}))
    for name, s in bar:
        bar.set_postfix_str(f"{name} {s:g}")
        result = evaluate(model, perturbed_split(data, name, s, seed), n_classes, surface=False,
                          desc=f"{name} {s:g}", **evaluate_kw)
        rows.append(dict(perturbation=name, strength=float(s), **{k: float(result[k]) for k in METRICS}))
    bar.close()
    order = {n: i for i, n in enumerate(names)}
    rows.sort(key=lambda r: (order[r["perturbation"]], r["strength"]))
    return rows


def write_csv(rows, path):
    from utils.checkpoint import atomic_write_text
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["perturbation", "strength", *METRICS])
    writer.writeheader()
    for r in rows:
        writer.writerow({k: (f"{v:.6f}" if isinstance(v, float) and k != "strength" else v) for k, v in r.items()})
    atomic_write_text(buf.getvalue(), path)


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
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = list(dict.fromkeys(r["perturbation"] for rows in series.values() for r in rows))
    cols = min(5, len(names))
    nrows = -(-len(names) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(3.0 * cols, 2.5 * nrows), sharey=True, squeeze=False)
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
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def example_sheet(image, mask, path, names=None, strengths=(0.5, 1.0), seed=0):
    """One image under every perturbation (rows: strengths; ground-truth contour in red)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = list(names or PERTURBATIONS)
    fig, axes = plt.subplots(len(strengths), len(names) + 1, figsize=(1.8 * (len(names) + 1), 1.9 * len(strengths)),
                             squeeze=False)
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
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def run_benchmark(model, data, n_classes, prefix, perturbations=None, strengths=STRENGTHS, seed=0, title="",
                  evaluate_kw=None):
    """:func:`benchmark` plus its files (``prefix`` + ``.csv``, ``.md``, ``.png``, ``-examples.png``)."""
    from utils.checkpoint import atomic_write_text
    rows = benchmark(model, data, n_classes, perturbations, strengths, seed, evaluate_kw)
    write_csv(rows, prefix + ".csv")
    md = table(rows, "dice_fg", f"{title}: foreground Dice" if title else None)
    md += "\n" + table(rows, "mDice", f"{title}: mDice (background included)" if title else None)
    atomic_write_text(md, prefix + ".md")
    plot({title or "model": rows}, prefix + ".png", "dice_fg", title)
    # The example sheet shows the test image with the largest target.
    areas = [(int((data.load(i)[1] > 0).sum()) if data.need_masks else 0, i) for i in range(len(data.samples))]
    image, mask = data.load(max(areas)[1])
    example_sheet(image, mask, prefix + "-examples.png", perturbations, seed=seed)
    return rows


def compare(csv_paths, labels, out_prefix, metric="dice_fg"):
    """One markdown table (mean over strengths > 0 and value at the strongest, per model) and one plot."""
    from utils.checkpoint import atomic_write_text
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
    import argparse
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
    import sys
    sys.exit(main())
