"""``run.py --mode test | debug | robust``: metrics of trained weights on the test split, a network's shapes and
parameter counts, and the robustness benchmark (test-split metrics under the perturbations of
:mod:`advance.robust`).
"""
import os

from tqdm import tqdm

import jittor as jt
from jittor import nn

from advance import robust as perturbations
from dataset.loader import SegDataset
from model import count_parameters, model_info
from utils.atomic import atomic_write_text
from utils.metrics import Evaluator
from utils.visualize import overlay, save_rgb

from . import outputs
from .engine import evaluate
from .outputs import RunPaths
from .setup import build_model, check_sizes, load_for_inference, make_split, window_kw


def test_and_paint(args, paths, model, data):
    """Test metrics (returned), the per-case CSV, and an overlay of every test image."""
    os.makedirs(paths.overlays, exist_ok=True)

    def paint(index, pred):
        image, mask = data.load(index)
        save_rgb(os.path.join(paths.overlays, f"{data.samples[index].stem}.png"),
                 overlay(image, pred, mask, args.class_num))

    ev = Evaluator(args.class_num, surface=True)
    result = evaluate(model, data, args.class_num, desc="test", on_prediction=paint, evaluator=ev, **window_kw(args))
    outputs.write_cases(paths.cases, ev.case_rows())
    return result


def test(args):
    paths = RunPaths(args)
    model = build_model(args)
    data = make_split(args, "test", model=model)
    weights = load_for_inference(args, paths, model)
    total, trainable = count_parameters(model)
    result = test_and_paint(args, paths, model, data)
    result.update(outputs.result_meta(args, paths, total, trainable, weights=weights))
    outputs.write_json(paths.result, result)
    outputs.print_metrics(result, f"test ({len(data.samples)} images)")
    outputs.print_outputs([("metrics JSON", paths.result), ("per-case Dice", paths.cases),
                           ("overlays", f"{paths.overlays}/ ({outputs.overlay_legend(args.class_num)})")])
    return 0


def debug(args):
    """Output shape, parameter counts and the parameters of each direct submodule, on a dummy batch."""
    size = args.img_size or 512
    check_sizes(args.model, {(size, size)}, "debug")
    model = build_model(args)
    model.eval()
    with jt.no_grad():
        out = model(jt.ones((2, 3, size, size)))
    model.train()
    total, trainable = count_parameters(model)
    print(f"model {args.model}: input (2, 3, {size}, {size}) -> output {tuple(out.shape)}")
    print(f"  {model_info(args.model).description}")
    print(f"parameters: {total:,} total (BatchNorm statistics included), {trainable:,} trainable")
    print(f"{'submodule':<24}{'parameters':>14}")
    for name, child in vars(model).items():
        if isinstance(child, nn.Module):
            print(f"{name:<24}{count_parameters(child)[0]:>14,}")
    return 0


# --------------------------------------------------------------------------------------------------- robust
class PerturbedSplit(SegDataset):
    """A copy of the SegDataset ``data`` whose samples (image and mask) are perturbed by ``name`` at
    ``strength``; image ``i`` is perturbed with a generator seeded ``(seed, i)``, so every model sees the same
    perturbed images."""

    def __init__(self, data, name, strength, seed=0):
        super().__init__(data.samples, n_classes=data.n_classes, img_size=data.img_size, batch_size=data.batch_size,
                         need_masks=data.need_masks, label_map=data.label_map)
        self.source, self.seed = data, seed
        self.perturb = perturbations.Perturbation(name, strength)

    def load(self, index):
        if index not in self._cache:
            image, mask = self.source.load(index)
            self._cache[index] = self.perturb.set_random_state([self.seed, index])(image, mask)
        return self._cache[index]


def benchmark(model, data, n_classes, names=None, strengths=perturbations.STRENGTHS, seed=0, evaluate_kw=None):
    """Rows ``{perturbation, strength, mDice, mIoU, dice_fg, iou_fg, dice_case}`` for every perturbation and
    strength; strength 0 is the clean test split (evaluated once)."""
    names = list(names or perturbations.PERTURBATIONS.names(sort=False))
    strengths = sorted(set(strengths) | {0.0})
    evaluate_kw = evaluate_kw or {}
    clean = evaluate(model, data, n_classes, surface=False, desc="clean", **evaluate_kw)
    rows = [dict(perturbation=name, strength=0.0, **{k: float(clean[k]) for k in perturbations.METRICS})
            for name in names]
    jobs = [(n, s) for n in names for s in strengths if s > 0]
    bar = tqdm(jobs, desc="perturbations", unit="setting", leave=False)
    for name, s in bar:
        bar.set_postfix_str(f"{name} {s:g}")
        result = evaluate(model, PerturbedSplit(data, name, s, seed), n_classes, surface=False,
                          desc=f"{name} {s:g}", **evaluate_kw)
        rows.append(dict(perturbation=name, strength=float(s), **{k: float(result[k]) for k in perturbations.METRICS}))
    bar.close()
    order = {n: i for i, n in enumerate(names)}
    rows.sort(key=lambda r: (order[r["perturbation"]], r["strength"]))
    return rows


def run_benchmark(model, data, n_classes, prefix, names=None, strengths=perturbations.STRENGTHS, seed=0, title="",
                  evaluate_kw=None):
    """:func:`benchmark` plus its files (``prefix`` + ``.csv``, ``.md``, ``.png``, ``-examples.png``)."""
    rows = benchmark(model, data, n_classes, names, strengths, seed, evaluate_kw)
    perturbations.write_csv(rows, prefix + ".csv")
    md = perturbations.table(rows, "dice_fg", f"{title}: foreground Dice" if title else None)
    md += "\n" + perturbations.table(rows, "mDice", f"{title}: mDice (background included)" if title else None)
    atomic_write_text(md, prefix + ".md")
    perturbations.plot({title or "model": rows}, prefix + ".png", "dice_fg", title)
    # The example sheet shows the test image with the largest target.
    areas = [(int((data.load(i)[1] > 0).sum()) if data.need_masks else 0, i) for i in range(len(data.samples))]
    image, mask = data.load(max(areas)[1])
    perturbations.example_sheet(image, mask, prefix + "-examples.png", names, seed=seed)
    return rows


def robust(args):
    """Test-split metrics under perturbations: CSV, markdown table, plot, example sheet."""
    names = perturbations.parse_perturbations(args.perturb)
    strengths = perturbations.parse_strengths(args.strengths)
    paths = RunPaths(args)
    model = build_model(args)
    data = make_split(args, "test", model=model)
    weights = load_for_inference(args, paths, model)
    prefix = os.path.join(args.result_dir, paths.run)
    print(f"robustness of {weights} on {len(data.samples)} test images: {len(names)} perturbations x "
          f"strengths {', '.join(f'{s:g}' for s in strengths)}")
    rows = run_benchmark(model, data, args.class_num, prefix, names, strengths, seed=args.seed, title=paths.tag,
                         evaluate_kw=window_kw(args))
    print(perturbations.table(rows, "dice_fg", "foreground Dice"))
    print(f"outputs:\n  table      {prefix}.csv, {prefix}.md\n  plot       {prefix}.png\n"
          f"  examples   {prefix}-examples.png\n"
          f"compare runs: python -m advance.robust compare A.csv B.csv --labels A B --out result/robust-compare")
    return 0
