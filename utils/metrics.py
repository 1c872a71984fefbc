"""Segmentation metrics: the one module that computes them.

Conventions (README "Metrics"):

* ``mDice, mIoU, mFWIoU, mAcc, mAcc_class``: one confusion matrix pooled over every pixel of the split, then
  the mean over classes **including background** (NaN classes, absent from both truth and prediction, are
  skipped).  This is the convention of the original's published tables.
* ``mPrecision, mRecall``: precision and recall of the **foreground** classes (mean over them), from the
  pooled matrix.  The original reported the background's.
* ``dice_fg, iou_fg``: pooled Dice/IoU averaged over the foreground classes only.
* ``dice_case``: mean over cases of each case's foreground Dice, the case's slices pooled (a case is an image,
  or a patient / volume when the dataset names them: then this is the Dice of the stacked 3D volume).
  ``dice_slice``: mean over images of each image's foreground Dice.  Per class: both masks empty -> 1,
  one empty -> 0.
* ``asd, hd95``: average symmetric surface distance and 95th-percentile Hausdorff distance per image and
  foreground class (pixels, or mm when a spacing is given), from Euclidean distance transforms; the mean over
  every (image, class) where both masks are non-empty.  Both empty: excluded.  One empty: excluded and counted
  in ``n_empty_mismatch``.
* Per volume (the Synapse protocol of TransUNet's papers), when a case has more than one image: the case's
  slices are stacked, in the order they were added, into a 3D label volume, and each foreground class gets
  the volume's Dice and HD95 / ASD (3D distance transforms, voxel units); ``per_class_volume`` holds each
  class's mean over volumes (HD95 over the volumes where both masks have the class), ``volume_dice`` and
  ``volume_hd95`` the mean of those over classes, ``per_volume`` every volume's values. Empty masks as above.
  Only with ``surface`` (test mode); a case whose slices differ in size is left out (``n_volumes_skipped``).
"""
import numpy as np
from scipy import ndimage


class ConfusionMatrix:
    """``cm[truth, prediction]`` accumulated over any number of label maps; truth outside [0, n) is ignored."""

    def __init__(self, n_classes):
        self.n_classes = int(n_classes)
        self.matrix = np.zeros((self.n_classes, self.n_classes), dtype=np.int64)

    def reset(self):
        self.matrix[:] = 0

    def update(self, target, pred):
        n = self.n_classes
        target = np.asarray(target).reshape(-1).astype(np.int64)
        pred = np.asarray(pred).reshape(-1).astype(np.int64)
        keep = (target >= 0) & (target < n)
        self.matrix += np.bincount(n * target[keep] + pred[keep], minlength=n * n).reshape(n, n)
        return self

    # Per-class values (NaN where undefined).
    def _ratio(self, num, den):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(den > 0, num / np.maximum(den, 1), np.nan)

    def per_class(self):
        cm = self.matrix.astype(np.float64)
        tp = np.diag(cm)
        truth, predicted = cm.sum(1), cm.sum(0)
        return {
            "dice": self._ratio(2 * tp, truth + predicted),
            "iou": self._ratio(tp, truth + predicted - tp),
            "precision": self._ratio(tp, predicted),
            "recall": self._ratio(tp, truth),
        }

    def scores(self):
        """The pooled metrics as a dict of floats (see the module docstring)."""
        cm = self.matrix.astype(np.float64)
        total = cm.sum()
        pc = self.per_class()
        freq = cm.sum(1) / total if total else np.zeros(self.n_classes)
        iou = pc["iou"]
        seen = freq > 0

        def mean(values):
            values = np.asarray(values, dtype=np.float64)
            return float(np.nanmean(values)) if np.any(~np.isnan(values)) else float("nan")

        return {
            "mDice": mean(pc["dice"]),
            "mIoU": mean(iou),
            "mFWIoU": float(np.nansum(freq[seen] * iou[seen])) if total else float("nan"),
            "mAcc": float(np.trace(cm) / total) if total else float("nan"),
            "mAcc_class": mean(pc["recall"]),
            "mPrecision": mean(pc["precision"][1:]),
            "mRecall": mean(pc["recall"][1:]),
            "dice_fg": mean(pc["dice"][1:]),
            "iou_fg": mean(pc["iou"][1:]),
        }


def dice_binary(pred, truth):
    """Dice of two boolean masks, with both empty -> 1 and one empty -> 0."""
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    denom = pred.sum() + truth.sum()
    if denom == 0:
        return 1.0
    return float(2.0 * np.logical_and(pred, truth).sum() / denom)


def _surface(mask):
    """Boundary pixels of a boolean mask: the mask minus its erosion (4-connectivity in 2D)."""
    structure = ndimage.generate_binary_structure(mask.ndim, 1)
    return mask & ~ndimage.binary_erosion(mask, structure=structure, border_value=0)


def surface_distances(pred, truth, spacing=None):
    """(ASD, HD95) between two non-empty boolean masks, or None when either is empty.

    ASD = mean of the two directed mean surface distances; HD95 = 95th percentile of all surface distances in
    both directions (the conventions of medpy's ``assd`` and ``hd95``).  Distances come from Euclidean distance
    transforms (``spacing`` per axis; pixels when None), so the cost is linear in the image size.
    """
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    if not pred.any() or not truth.any():
        return None
    # Only the box around both masks matters (one pixel of margin keeps their surfaces as they are): the same
    # distances, from much smaller transforms when the objects are small.
    union = pred | truth
    box = tuple(slice(max(int(i.min()) - 1, 0), int(i.max()) + 2) for i in np.nonzero(union))
    pred, truth = pred[box], truth[box]
    sp, st = _surface(pred), _surface(truth)
    d_pred_to_truth = ndimage.distance_transform_edt(~st, sampling=spacing)[sp]
    d_truth_to_pred = ndimage.distance_transform_edt(~sp, sampling=spacing)[st]
    asd = 0.5 * (d_pred_to_truth.mean() + d_truth_to_pred.mean())
    hd95 = np.percentile(np.concatenate([d_pred_to_truth, d_truth_to_pred]), 95)
    return float(asd), float(hd95)


class Evaluator:
    """Collects every metric of a split, one image at a time.

    ``add(target, pred, case=None)`` takes integer label maps of one image; ``summary()`` returns the
    dictionary written to the result JSON.  ``surface=False`` skips ASD/HD95 (they cost a distance transform
    per image and class; validation during training does not need them).
    """

    def __init__(self, n_classes, surface=True, spacing=None, volumes=None):
        self.n_classes = int(n_classes)
        self.surface = surface
        self.volumes = surface if volumes is None else volumes
        self.slices = {}  # case -> [(truth, prediction)] as small integers, for the volume metrics
        self.spacing = spacing
        self.confusion = ConfusionMatrix(n_classes)
        self.cases = {}   # case -> ConfusionMatrix
        self.distances = {c: [] for c in range(1, self.n_classes)}  # class -> [(asd, hd95)]
        self.n_empty_mismatch = 0
        self.n_images = 0
        self.slice_dice = []
        self.case_images = {}

    def add(self, target, pred, case=None):
        target, pred = np.asarray(target), np.asarray(pred)
        self.confusion.update(target, pred)
        key = case if case is not None else f"#{self.n_images}"
        self.cases.setdefault(key, ConfusionMatrix(self.n_classes)).update(target, pred)
        self.case_images[key] = self.case_images.get(key, 0) + 1
        self.slice_dice.append(float(np.mean([dice_binary(pred == c, target == c)
                                              for c in range(1, self.n_classes)])))
        self.n_images += 1
        if self.volumes:
            small = np.uint8 if self.n_classes <= 256 else np.int32
            self.slices.setdefault(key, []).append((target.astype(small), pred.astype(small)))
        if not self.surface:
            return
        for c in range(1, self.n_classes):
            p, t = pred == c, target == c
            if p.any() != t.any():
                self.n_empty_mismatch += 1
            elif p.any():
                self.distances[c].append(surface_distances(p, t, self.spacing))

    def case_rows(self):
        """One dict per (case, foreground class): Dice of the case's pooled slices, pixel counts, images."""
        rows = []
        for case, cm in self.cases.items():
            m = cm.matrix
            for c in range(1, self.n_classes):
                tp, truth, predicted = int(m[c, c]), int(m[c, :].sum()), int(m[:, c].sum())
                dice = 1.0 if truth + predicted == 0 else 2.0 * tp / (truth + predicted)
                rows.append(dict(case=case, class_id=c, dice=dice, true_pixels=truth, predicted_pixels=predicted,
                                 n_images=self.case_images[case]))
        return rows

    def case_dice(self):
        """{case: mean foreground Dice of that case} with the empty-mask convention."""
        per_case = {}
        for row in self.case_rows():
            per_case.setdefault(row["case"], []).append(row["dice"])
        return {case: float(np.mean(v)) for case, v in per_case.items()}

    def summary(self):
        result = self.confusion.scores()
        per_case = self.case_dice()
        result["dice_case"] = float(np.mean(list(per_case.values()))) if per_case else float("nan")
        result["dice_slice"] = float(np.mean(self.slice_dice)) if self.slice_dice else float("nan")
        if self.surface:
            pairs = [d for c in self.distances for d in self.distances[c]]
            result["asd"] = float(np.mean([a for a, _ in pairs])) if pairs else float("nan")
            result["hd95"] = float(np.mean([h for _, h in pairs])) if pairs else float("nan")
            result["n_empty_mismatch"] = int(self.n_empty_mismatch)
        result["n_images"] = int(self.n_images)
        result["n_cases"] = len(per_case)
        if self.n_classes > 2:
            pc = self.confusion.per_class()
            result["per_class"] = {}
            for c in range(self.n_classes):
                entry = {k: _finite_or_none(pc[k][c]) for k in ("dice", "iou", "precision", "recall")}
                if self.surface and c > 0:
                    d = self.distances[c]
                    entry["asd"] = float(np.mean([a for a, _ in d])) if d else None
                    entry["hd95"] = float(np.mean([h for _, h in d])) if d else None
                result["per_class"][str(c)] = entry
        result["per_case_dice"] = per_case
        if self.volumes and any(len(v) > 1 for v in self.slices.values()):
            result.update(self.volume_summary())
        return result

    def volume_summary(self):
        """The per-volume metrics (module docstring): ``per_volume``, ``per_class_volume``, ``volume_dice``,
        ``volume_hd95``, ``n_volumes``, ``n_volumes_skipped``."""
        per_volume, skipped = {}, 0
        for case, pairs in self.slices.items():
            if len({t.shape for t, _ in pairs}) > 1:
                skipped += 1
                continue
            truth = np.stack([t for t, _ in pairs])
            pred = np.stack([p for _, p in pairs])
            entry = {}
            for c in range(1, self.n_classes):
                p, t = pred == c, truth == c
                d = surface_distances(p, t, self.spacing)
                entry[str(c)] = dict(dice=dice_binary(p, t), hd95=d[1] if d else None, asd=d[0] if d else None,
                                     empty_mismatch=bool(p.any() != t.any()))
            per_volume[case] = entry
        per_class = {}
        for c in range(1, self.n_classes):
            rows = [v[str(c)] for v in per_volume.values()]
            hd = [r["hd95"] for r in rows if r["hd95"] is not None]
            asd = [r["asd"] for r in rows if r["asd"] is not None]
            per_class[str(c)] = dict(dice=float(np.mean([r["dice"] for r in rows])) if rows else None,
                                     hd95=float(np.mean(hd)) if hd else None, asd=float(np.mean(asd)) if asd else None,
                                     n_volumes=len(rows), n_empty_mismatch=sum(r["empty_mismatch"] for r in rows))
        dice = [v["dice"] for v in per_class.values() if v["dice"] is not None]
        hd = [v["hd95"] for v in per_class.values() if v["hd95"] is not None]
        return {"volume_dice": float(np.mean(dice)) if dice else float("nan"),
                "volume_hd95": float(np.mean(hd)) if hd else float("nan"),
                "per_class_volume": per_class, "per_volume": per_volume,
                "n_volumes": len(per_volume), "n_volumes_skipped": skipped}


def _finite_or_none(x):
    x = float(x)
    return x if np.isfinite(x) else None
