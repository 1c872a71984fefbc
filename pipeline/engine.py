"""The loops every mode runs: one training epoch, prediction in batches, evaluation (they know nothing about
the command line; ``pipeline/train.py`` and ``pipeline/evaluate.py`` wire them)."""
import math
import time

import numpy as np
from tqdm import tqdm

import jittor as jt
from jittor import nn

from utils.distributed import is_main, mean_over_ranks
from utils.errors import TrainingDiverged
from utils.metrics import Evaluator

from .inference import sliding_window_probs


def seed_epoch(seed, epoch, loaders=()):
    """Make an epoch's randomness depend only on (seed, epoch): NumPy, Python, Jittor, the shuffles and the
    augmentation (reseeded per sample from ``(seed, epoch, index)`` by the loaders).

    A resumed run therefore sees the same shuffles and augmentations as an uninterrupted one.  The shuffle
    generator is the same on every MPI rank, so ranks split one permutation.
    """
    jt.set_global_seed(seed * 100003 + epoch)
    for loader in loaders:
        loader._shuffle_rng = np.random.default_rng(seed * 100003 + epoch)
        loader.augment_seed = (seed, epoch)


def train_one_epoch(model, loader, criterion, optimizer, epoch, schedule=None, desc="train", on_step=None,
                    target_fn=None):
    """One pass over ``loader``; returns the sample-weighted mean loss.

    ``schedule(iteration_in_epoch) -> lr`` (poly) is applied before every step.  A NaN/inf loss raises
    :class:`TrainingDiverged` before the weights are updated with it.  ``on_step(iteration, loss, lr)`` is
    called after every step (logging).  ``target_fn(masks) -> masks`` is applied to each batch's masks right
    after the forward pass, so it may use what that pass computed (``STNWrapper.warp_target`` warps them with
    the spatial transformer's theta).  Under MPI each rank trains on its part of every batch; the loss
    reported (and checked for NaN) is the mean over ranks, i.e. the loss of the whole batch.
    """
    model.train()
    total, count = 0.0, 0
    bar = tqdm(loader, total=len(loader), desc=f"{desc} epoch {epoch}", leave=False, unit="batch",
               disable=not is_main())
    for it, (images, masks, _) in enumerate(bar):
        if schedule is not None:
            optimizer.lr = schedule(it)
        outputs = model(images)
        if target_fn is not None:
            masks = target_fn(masks)
        loss = criterion(outputs, masks)
        value = mean_over_ranks(float(loss.item()))
        if not math.isfinite(value):
            raise TrainingDiverged(f"the loss became {value} at epoch {epoch}, batch {it}")
        optimizer.step(loss)
        if on_step is not None:
            on_step(it, value, float(optimizer.lr))
        n = int(images.shape[0])
        total += value * n
        count += n
        bar.set_postfix(loss=f"{total / count:.4f}")
    bar.close()
    # Run every pending lazy operation now (BatchNorm statistics updates, and under MPI their all-reduces), so
    # that no rank meets another rank's leftover collective later, e.g. while rank 0 alone validates.
    jt.sync_all()
    return total / max(count, 1)


def predict_probs(model, images, window=None, overlap=0.5, blend="gaussian"):
    """Class probabilities ``N x C x H x W`` (numpy) of a batch of images (``jt.Var`` or numpy, N x C x H x W).

    With ``window``, each image is segmented by sliding windows (utils.inference), whatever its size.  The
    caller puts the model in eval mode.
    """
    with jt.no_grad():
        if window:
            arr = images.numpy() if isinstance(images, jt.Var) else np.asarray(images)
            return np.stack([sliding_window_probs(model, img, window, overlap, blend) for img in arr])
        x = images if isinstance(images, jt.Var) else jt.array(images)
        return nn.softmax(model(x), dim=1).numpy()


def predict_batches(model, loader, desc="predict", **window):
    """Yield ``(indices, predicted labels N x H x W int64, probabilities N x C x H x W)`` in eval mode, for
    every sample of ``loader`` (a SegDataset) in order, on this process alone (never divided among ranks)."""
    model.eval()
    for images, _, indices in tqdm(loader.iter_all(), total=loader.n_batches_all(), desc=desc, leave=False,
                                   unit="batch"):
        prob = predict_probs(model, images, **window)
        yield indices.numpy(), prob.argmax(axis=1).astype(np.int64), prob


def evaluate(model, loader, n_classes, surface=False, desc="val", on_prediction=None, evaluator=None, **window):
    """Metrics of ``model`` on ``loader``'s split (see utils.metrics); adds ``infer_ms_per_image``.

    ``on_prediction(index, pred)`` is called for every image (overlays, mask files); ``window`` keywords
    (``window``, ``overlap``, ``blend``) switch to sliding-window inference; pass ``evaluator`` to keep it
    (per-case rows) after the call.
    """
    ev = evaluator or Evaluator(n_classes, surface=surface)
    dataset = loader
    seconds, n_images = 0.0, 0
    start = time.perf_counter()
    for indices, preds, _ in predict_batches(model, loader, desc=desc, **window):
        seconds += time.perf_counter() - start
        for idx, pred in zip(indices, preds):
            _, mask = dataset.load(int(idx))
            ev.add(mask, pred, case=dataset.samples[int(idx)].case_id)
            if on_prediction is not None:
                on_prediction(int(idx), pred)
            n_images += 1
        start = time.perf_counter()
    result = ev.summary()
    result["infer_ms_per_image"] = 1000.0 * seconds / max(n_images, 1)
    return result
