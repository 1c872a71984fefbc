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
``unet+aug+stn+pretrain`` (the keys of the published table); a distilled student adds its methods and
teacher, ``unext+kd-from-unet``.

Two more tables where the results have them:

* **knowledge distillation** (``run.py --mode distill``, ``distill.sh``): per dataset, student and teacher,
  the teacher, the student alone and the student with each method, over every seed found (results in several
  folders, one per seed): fg Dice, per-case Dice and HD95 as mean ± sd, the student's parameters and ms per
  image, training seconds per epoch, and the change of fg Dice against the student alone;
* **per volume and class** (datasets of several classes whose cases are volumes, e.g. Synapse): mean Dice and HD95 over volumes
  and classes, then each class's Dice, as TransUNet's papers print them, with the dataset's class names.
"""
import argparse
import csv
import glob
import json
import os
import statistics
import sys

from matplotlib.figure import Figure

from utils.visualize import save_figure

PUBLISHED_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench", "published")
COLUMNS = ["dataset", "config", "mDice", "mIoU", "dice_fg", "dice_case", "hd95", "params", "train_s_per_epoch",
           "infer_ms_per_image", "epochs", "img_size", "published_mDice", "published_mIoU", "file"]


MODES = ("train", "test", "distill")


def config_key(run):
    """``unet``, ``unet+stn+pretrain``, ``unext+kd-from-unet``, ... from a result's ``run`` block."""
    flags = [name for name in ("aug", "stn", "pretrain") if run.get(name)]
    if run.get("kd") and run.get("teacher"):
        flags.append(f"{run['kd']}-from-{run['teacher']}")
    return "+".join([run["model"]] + flags)


def load_results(paths, dataset=None, by_seed=False):
    """{(dataset, config): row} keeping the newest file of each configuration (``by_seed``: of each
    configuration and seed, keys (dataset, config, seed)); its empty fields (a test run has no training time)
    are filled from an older result of the same configuration, epochs and image size."""
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
        if not run or "mDice" not in data or run.get("mode") not in MODES:
            continue
        if dataset and run.get("dataset") != dataset:
            continue
        key = (run["dataset"], config_key(run)) + ((run.get("seed"),) if by_seed else ())
        row = dict(dataset=run["dataset"], config=key[1], mDice=data.get("mDice"), mIoU=data.get("mIoU"),
                   dice_fg=data.get("dice_fg"), dice_case=data.get("dice_case"), hd95=data.get("hd95"),
                   params=run.get("params"), train_s_per_epoch=run.get("train_s_per_epoch"),
                   infer_ms_per_image=data.get("infer_ms_per_image"), epochs=run.get("epochs"),
                   img_size=run.get("img_size"), model=run["model"], kd=run.get("kd"), teacher=run.get("teacher"),
                   seed=run.get("seed"), loss=run.get("loss"), volume_dice=data.get("volume_dice"),
                   volume_hd95=data.get("volume_hd95"), per_class_volume=data.get("per_class_volume"),
                   class_names=run.get("class_names"), file=f, _mtime=os.path.getmtime(f))
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
    for dataset in sorted({d for d, *_ in rows}):
        items = sorted((r for (d, *_), r in rows.items() if d == dataset),
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


def _mean_sd(values, digits=4):
    """``0.7012 ± 0.0123`` over the values that exist (``0.7012`` for one, ``—`` for none)."""
    values = [v for v in values if v is not None]
    if not values:
        return "—"
    mean = statistics.mean(values)
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def distill_tables(seed_rows):
    """Markdown of the knowledge-distillation tables (module docstring); '' without distilled results.

    ``seed_rows``: :func:`load_results` with ``by_seed=True``. The student alone is the plain result of the
    student with the same epochs, image size and loss as the distilled runs; the teacher its plain result.
    """
    rows = list(seed_rows.values())
    lines = []
    for dataset, student, teacher in sorted({(r["dataset"], r["model"], r["teacher"]) for r in rows if r["kd"]}):
        distilled = [r for r in rows if r["dataset"] == dataset and r["model"] == student and r["teacher"] == teacher
                     and r["kd"]]
        setting = {(r["epochs"], r["img_size"], r["loss"]) for r in distilled}
        groups = {"— (student alone)": [r for r in rows if r["dataset"] == dataset and r["model"] == student
                                        and not r["kd"] and (r["epochs"], r["img_size"], r["loss"]) in setting]}
        for r in distilled:
            groups.setdefault(r["kd"], []).append(r)
        teacher_rows = [r for r in rows if r["dataset"] == dataset and r["model"] == teacher and not r["kd"]]
        base = [r["dice_fg"] for r in groups["— (student alone)"] if r["dice_fg"] is not None]
        base_mean = statistics.mean(base) if base else None
        lines += [f"### Knowledge distillation: {student} from {teacher} on {dataset}\n",
                  "| Student | Teacher | Method | seeds | fg Dice | Δ fg Dice | case Dice | HD95 (px) | params (M) | "
                  "ms / image | s / epoch |", "|" + "---|" * 11]

        def line(name, model, teacher_name, group):
            fg = [r["dice_fg"] for r in group]
            delta = (f"{statistics.mean([v for v in fg if v is not None]) - base_mean:+.4f}"
                     if base_mean is not None and any(v is not None for v in fg) and name not in ("teacher",)
                     and not name.startswith("—") else "")
            params = group[0]["params"]
            return (f"| {model} | {teacher_name} | {name} | {', '.join(str(r['seed']) for r in group)} | "
                    f"{_mean_sd(fg)} | {delta} | {_mean_sd([r['dice_case'] for r in group])} | "
                    f"{_mean_sd([r['hd95'] for r in group], 2)} | {_fmt(params / 1e6 if params else None, 2)} | "
                    f"{_mean_sd([r['infer_ms_per_image'] for r in group], 1)} | "
                    f"{_mean_sd([r['train_s_per_epoch'] for r in group], 1)} |")
        if teacher_rows:
            lines.append(line("teacher", teacher, "—", teacher_rows))
        for name, group in groups.items():
            if group:
                lines.append(line(name, student, "—" if name.startswith("—") else teacher, group))
        (epochs, size, loss), *more = sorted(setting, key=str)
        lines.append(f"\nStudent runs: {epochs} epochs, image size {size or 'own'}, loss {loss}"
                     + (" (and other settings)" if more else "") + "; mean ± sd over the seeds listed. "
                     "Δ: against the student alone.\n")
    return "\n".join(lines)


def volume_tables(rows):
    """Markdown of the per-volume, per-class tables (module docstring); '' when no result has them."""
    lines = []
    several = [r for r in rows.values() if len(r.get("per_class_volume") or ()) > 1]  # binary: dice_case says it
    for dataset in sorted({r["dataset"] for r in several}):
        items = sorted((r for r in several if r["dataset"] == dataset),
                       key=lambda r: -(r["volume_dice"] or 0))
        classes = sorted(items[0]["per_class_volume"], key=int)
        names = items[0].get("class_names")
        label = [names[int(c)] if names else f"class {c}" for c in classes]
        lines += [f"### {dataset}: per volume and class\n",
                  "| Model | Dice | HD95 | " + " | ".join(label) + " |", "|" + "---|" * (len(classes) + 3)]
        for r in items:
            per = r["per_class_volume"]
            lines.append(f"| {r['config']} | {_fmt(r['volume_dice'])} | {_fmt(r['volume_hd95'], 2)} | "
                         + " | ".join(_fmt((per.get(c) or {}).get("dice")) for c in classes) + " |")
        lines.append("\nDice and HD95 (voxels) of each volume's stacked slices, the mean over volumes, then over "
                     "classes.\n")
    return "\n".join(lines)


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
    extra = [t for t in (volume_tables(rows), distill_tables(load_results(a.paths, a.dataset, by_seed=True))) if t]
    text = "\n".join([text] + extra)
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
