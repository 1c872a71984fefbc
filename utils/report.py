"""Benchmark tables from result JSONs: markdown and CSV in the original's format, plus more columns and a chart.

    python -m utils.report result/ --out bench/results/demo [--dataset demo] [--published pancreas]

Reads every ``*.json`` that run.py wrote (train or test mode) under the given folders, keeps the newest result of
each (dataset, configuration), and writes:

* ``OUT.md``: per dataset, ``| Model | Dice | mIoU |`` as the original's README (2-class means, background
  included), then foreground Dice, mean per-case Dice, HD95, parameters, training seconds per epoch, inference
  ms per image, the image size, and, where published numbers exist (pancreas,
  ``bench/published/jmedseg_pancreas.json``), the original's Dice and mIoU side by side;
* ``OUT.csv``: the same rows, machine-readable;
* ``OUT.png``: a bar chart of foreground Dice per model and dataset.

A configuration is the model plus its SAS flags: ``unet``, ``unet+pretrain``, ``unet+stn+pretrain``,
``unet+aug+stn+pretrain`` (the keys of the published table).
"""
import argparse
import csv
import glob
import json
import os
import sys

from matplotlib.figure import Figure

from utils.visualize import save_figure

PUBLISHED_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench", "published")
COLUMNS = ["dataset", "config", "mDice", "mIoU", "dice_fg", "dice_case", "hd95", "params", "train_s_per_epoch",
           "infer_ms_per_image", "epochs", "img_size", "published_mDice", "published_mIoU", "file"]


def config_key(run):
    """``unet``, ``unet+stn+pretrain``, ... from a result's ``run`` block."""
    flags = [name for name in ("aug", "stn", "pretrain") if run.get(name)]
    return "+".join([run["model"]] + flags)


def load_results(paths, dataset=None):
    """{(dataset, config): row} keeping the newest file of each configuration; its empty fields (a test run
    has no training time) are filled from an older result of the same configuration, epochs and image size."""
    files = []
    for p in paths:
        files += sorted(glob.glob(os.path.join(p, "**", "*.json"), recursive=True)) if os.path.isdir(p) else [p]
    rows = {}
    for f in files:
        try:
            with open(f) as fh:
                data = json.load(fh)
        except (OSError, ValueError):
            continue
        run = data.get("run") if isinstance(data, dict) else None
        if not run or "mDice" not in data or run.get("mode") not in ("train", "test"):
            continue
        if dataset and run.get("dataset") != dataset:
            continue
        key = (run["dataset"], config_key(run))
        row = dict(dataset=run["dataset"], config=key[1], mDice=data.get("mDice"), mIoU=data.get("mIoU"),
                   dice_fg=data.get("dice_fg"), dice_case=data.get("dice_case"), hd95=data.get("hd95"),
                   params=run.get("params"), train_s_per_epoch=run.get("train_s_per_epoch"),
                   infer_ms_per_image=data.get("infer_ms_per_image"), epochs=run.get("epochs"),
                   img_size=run.get("img_size"), file=f, _mtime=os.path.getmtime(f))
        old = rows.get(key)
        if old is None:
            rows[key] = row
            continue
        newer, older = (row, old) if row["_mtime"] >= old["_mtime"] else (old, row)
        if (newer["epochs"], newer["img_size"]) == (older["epochs"], older["img_size"]):
            # the same setting: a test-mode result lacks the training time, which its train-mode result has
            newer.update({k: v for k, v in older.items() if newer.get(k) is None})
        rows[key] = newer
    return rows


def load_published(name):
    path = os.path.join(PUBLISHED_DIR, f"jmedseg_{name}.json")
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def _fmt(v, digits=4):
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def build_tables(rows, published_name=None):
    """(markdown text, list of CSV rows)."""
    published = load_published(published_name) if published_name else None
    pub_rows = {r["key"]: r for r in published["rows"]} if published else {}
    lines, out_rows = [], []
    for dataset in sorted({d for d, _ in rows}):
        items = sorted((r for (d, _), r in rows.items() if d == dataset),
                       key=lambda r: -(r["dice_fg"] if r["dice_fg"] is not None else -1))
        show_pub = published is not None and published.get("dataset") == dataset
        lines.append(f"### {dataset}\n")
        head = ["Model", "Dice", "mIoU", "fg Dice", "case Dice", "HD95 (px)", "params (M)", "s / epoch", "ms / image",
                "size (px)"]
        if show_pub:
            head += ["original Dice", "original mIoU"]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        for r in items:
            pub = pub_rows.get(r["config"], {}) if show_pub else {}
            r = dict(r, published_mDice=pub.get("mDice"), published_mIoU=pub.get("mIoU"))
            cells = [r["config"], _fmt(r["mDice"]), _fmt(r["mIoU"]), _fmt(r["dice_fg"]), _fmt(r["dice_case"]),
                     _fmt(r["hd95"], 2), _fmt(r["params"] / 1e6 if r["params"] else None, 2),
                     _fmt(r["train_s_per_epoch"], 1), _fmt(r["infer_ms_per_image"], 1),
                     _fmt(r["img_size"]) if r["img_size"] else "own"]
            if show_pub:
                cells += [_fmt(r["published_mDice"]), _fmt(r["published_mIoU"])]
            lines.append("| " + " | ".join(cells) + " |")
            out_rows.append({k: r.get(k) for k in COLUMNS})
        epochs = sorted({r["epochs"] for r in items if r["epochs"]})
        sizes = sorted({str(r["img_size"]) for r in items})
        lines.append(f"\n{len(items)} configurations; epochs {', '.join(map(str, epochs))}; "
                     f"image size {', '.join(sizes)}. Sorted by foreground Dice.")
        if show_pub:
            lines.append(f"Original numbers: {published['source']}")
        lines.append("")
    return "\n".join(lines), out_rows


def bar_chart(rows, path):
    datasets = sorted({d for d, _ in rows})
    configs = sorted({c for _, c in rows}, key=lambda c: -max(
        (rows[(d, c)]["dice_fg"] or 0) for d in datasets if (d, c) in rows))
    fig = Figure(figsize=(max(8, 0.45 * len(configs) * len(datasets) + 2), 4.5))
    ax = fig.subplots()
    width = 0.8 / len(datasets)
    for i, d in enumerate(datasets):
        values = [rows[(d, c)]["dice_fg"] or 0 if (d, c) in rows else 0 for c in configs]
        ax.bar([k + i * width for k in range(len(configs))], values, width, label=d)
    ax.set_xticks([k + 0.4 - width / 2 for k in range(len(configs))])
    ax.set_xticklabels(configs, rotation=60, ha="right")
    ax.set_ylabel("foreground Dice (test)")
    ax.set_ylim(0, 1)
    ax.grid(axis="y", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path, dpi=100)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m utils.report", description=__doc__.splitlines()[0])
    p.add_argument("paths", nargs="+", help="result folders or JSON files")
    p.add_argument("--out", required=True, help="output prefix: writes OUT.md, OUT.csv and OUT.png")
    p.add_argument("--dataset", help="only this dataset (the name in the result's run block)")
    p.add_argument("--published", default="pancreas",
                   help="published table to put beside the dataset of the same name ('' for none)")
    a = p.parse_args(argv)
    rows = load_results(a.paths, a.dataset)
    if not rows:
        print(f"error: no run.py result JSON found under {', '.join(a.paths)}", file=sys.stderr)
        return 2
    text, out_rows = build_tables(rows, a.published or None)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out + ".md", "w") as f:
        f.write(text)
    with open(a.out + ".csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(out_rows)
    bar_chart(rows, a.out + ".png")
    print(text)
    print(f"wrote {a.out}.md, {a.out}.csv, {a.out}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
