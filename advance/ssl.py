"""Contrastive self-supervised pretraining (``run_ssl.py``): MoCo with a memory bank and the InfoNCE loss.

As in the original, the encoder is the segmentation network itself, read at one named layer (``--layer``:
``down4`` for ``unet``, ``aspp`` for ``deeplab``) through a forward hook; a projection head (adaptive average
pool to 2 x 2, flatten, ReLU, Linear to 128) turns that feature map into an embedding.  For a batch of image
pairs (two augmented views of each image) the query ``q`` and key ``k`` embeddings are L2-normalised and::

    logits = [q . k  |  q . queue] / T          (positive first, then K = 1024 negatives from the memory bank)
    loss   = cross_entropy(logits, 0)           (InfoNCE)

after which the batch's keys replace the oldest entries of the bank.  T = 0.07, embedding size 128.

Fixes to the original (README, "Differences from the original"):

* the projection head is optimised together with the network (the original optimised only the network, so
  its head stayed random);
* keys come from a momentum ("key") encoder, a copy of network and head updated as
  ``key = m * key + (1 - m) * query`` after every step (MoCo; m = 0.999).  ``momentum=0`` gives the original's
  shared encoder: keys are computed by the query encoder itself, with gradients;
* inputs are scaled to [0, 1] exactly like segmentation inputs (the original ImageNet-normalised them), so the
  pretrained first layers see the statistics they will see when fine-tuned;
* the forward pass stops at the hooked layer (the decoder's output is never used, so running it only cost
  time and changed its BatchNorm statistics);
* keys that do not fit before the end of the bank wrap around to its start (the original dropped them).

Only the network's weights are saved (run_ssl.py does it), so ``run.py --pretrain --checkpoint FILE`` loads them.
"""
import copy

import numpy as np
from tqdm import tqdm

import jittor as jt
from jittor import nn
from jittor.dataset import Dataset

from utils.errors import ConfigError, TrainingDiverged

from .augment import TwoCrops, ssl_augmentation
from .distill.taps import FeatureTaps, layer_names

__all__ = ["HiddenLayer", "ProjectionHead", "MoCoLearner", "TwoViewDataset", "info_nce", "l2_normalize",
           "momentum_update", "layer_names"]


class HiddenLayer:
    """Run ``model`` up to the submodule named ``layer`` and return that submodule's output.

    A feature tap (:class:`advance.distill.taps.FeatureTaps` with ``stop=True``) captures the output and ends
    the pass there, so later layers are not computed. A wrong name lists the valid ones.
    """

    def __init__(self, model, layer):
        self.model, self.layer = model, layer
        self.taps = FeatureTaps(model, [layer], flag="--layer", stop=True)
        self.module = self.taps.modules[layer]

    def __call__(self, x):
        return self.taps(x)[self.layer]

    def remove(self):
        self.taps.remove()


class ProjectionHead(nn.Module):
    """Adaptive average pool to 2 x 2, flatten, ReLU, Linear(4 C -> dim) (the original's ``Projection``)."""

    def __init__(self, channels, dim=128):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.fc = nn.Linear(channels * 4, dim)

    def execute(self, x):
        return self.fc(nn.relu(self.pool(x).reshape(x.shape[0], -1)))


def l2_normalize(x, eps=1e-12):
    """Rows of ``x`` scaled to unit length."""
    return x / jt.maximum(x.sqr().sum(1, keepdims=True).sqrt(), eps)


def info_nce(q, k, queue, temperature=0.07):
    """InfoNCE: cross-entropy of ``[q.k | q.queue] / T`` with the positive (index 0) as the label.

    ``q``, ``k``: N x D unit rows; ``queue``: D x K unit columns (negatives).
    """
    l_pos = (q * k).sum(1, keepdims=True)
    l_neg = jt.matmul(q, queue)
    logits = jt.concat([l_pos, l_neg], dim=1) / temperature
    top = logits.max(1, keepdims=True).detach()
    lse = (logits - top).exp().sum(1).log() + top.squeeze(1)
    return (lse - logits[:, 0]).mean()


def momentum_update(key_modules, query_modules, m):
    """``key = m * key + (1 - m) * query`` for every trainable variable.

    BatchNorm running statistics are not blended: the key encoder keeps its own, from its own forward passes
    (as MoCo, which updates parameters, not buffers).
    """
    for key, query in zip(key_modules, query_modules):
        kp, qp = key.parameters(), query.parameters()
        if len(kp) != len(qp):
            raise ValueError("key and query encoders differ")
        for a, b in zip(kp, qp):
            if b.requires_grad:
                a.update(a * m + b.detach() * (1.0 - m))


class MoCoLearner:
    """Contrastive learner around a segmentation network (see the module docstring).

    ``example``: one input batch, used to find the hooked layer's channel count; ``channels``, when given,
    must match it (the original's ``--channel``).  ``optimizer``: Adam over network + head, ``lr``.
    """

    def __init__(self, model, layer, example, channels=None, dim=128, queue_size=1024, temperature=0.07,
                 momentum=0.999, lr=1e-5, rng=None):
        if not 0.0 <= momentum < 1.0:
            raise ConfigError(f"--momentum must be in [0, 1), got {momentum}")
        if queue_size < 1:
            raise ConfigError(f"the memory bank needs at least one entry, got {queue_size}")
        self.model, self.layer = model, layer
        self.momentum, self.temperature = float(momentum), float(temperature)
        key_model = copy.deepcopy(model) if self.momentum > 0 else None  # copy before hooking
        self.query = HiddenLayer(model, layer)
        found = self._channels(example)
        if channels is not None and int(channels) != found:
            raise ConfigError(f"layer {layer!r} outputs {found} channels but --channel is {channels}; "
                              f"pass --channel {found} or leave it out")
        self.channels = found
        self.head = ProjectionHead(found, dim)
        if key_model is not None:
            self.key_model = key_model
            self.key = HiddenLayer(key_model, layer)
            self.key_head = copy.deepcopy(self.head)
            for v in key_model.parameters() + self.key_head.parameters():
                v.stop_grad()
        else:
            self.key_model = self.key = self.key_head = None
        rng = rng if rng is not None else np.random.default_rng(0)
        bank = rng.standard_normal((dim, queue_size)).astype(np.float32)
        self.queue = bank / np.linalg.norm(bank, axis=0, keepdims=True)
        self.ptr = 0
        self.enqueued = 0  # keys written so far; the bank holds only real keys once this reaches its size
        self.optimizer = nn.Adam(self.trainable_parameters(), lr, betas=(0.9, 0.999))

    def _channels(self, example):
        self.model.eval()
        try:
            with jt.no_grad():
                return int(self.query(example).shape[1])
        finally:
            self.model.train()

    def trainable_parameters(self):
        return self.model.parameters() + self.head.parameters()

    def train(self):
        self.model.train()
        self.head.train()
        if self.key_model is not None:
            self.key_model.train()  # as MoCo: the key encoder's BatchNorm uses batch statistics
            self.key_head.train()

    def embed(self, images):
        """Normalised query embeddings (N x dim)."""
        return l2_normalize(self.head(self.query(images)))

    def keys(self, images):
        if self.key_model is None:
            return self.embed(images)  # the original: the same encoder, with gradients
        with jt.no_grad():
            return l2_normalize(self.key_head(self.key(images))).detach()

    def momentum_update(self):
        if self.key_model is not None:
            momentum_update([self.key_model, self.key_head], [self.model, self.head], self.momentum)

    def enqueue(self, keys):
        """Write ``keys`` (N x dim) into the bank after the last written column, wrapping around."""
        keys = np.asarray(keys, np.float32)[-self.queue.shape[1]:]
        cols = (self.ptr + np.arange(len(keys))) % self.queue.shape[1]
        self.queue[:, cols] = keys.T
        self.ptr = int((self.ptr + len(keys)) % self.queue.shape[1])
        self.enqueued += len(keys)

    @property
    def bank_full(self):
        """True once every entry of the memory bank is a real key (no initial random vector left).

        Before that the negatives are partly random unit vectors, which are easy to tell apart, so the loss
        is lower than it will be later: losses of such warm-up steps are not comparable with later ones.
        """
        return self.enqueued >= self.queue.shape[1]

    def loss(self, im_q, im_k):
        """(loss, keys) of one batch of view pairs."""
        q = self.embed(im_q)
        k = self.keys(im_k)
        return info_nce(q, k, jt.array(self.queue), self.temperature), k

    def step(self, im_q, im_k):
        """One optimisation step; returns the batch's loss."""
        self.momentum_update()  # MoCo updates the key encoder before computing the keys
        loss, k = self.loss(im_q, im_k)
        value = float(loss.item())
        if not np.isfinite(value):
            raise TrainingDiverged(f"the contrastive loss became {value}; lower --lr")
        self.optimizer.step(loss)
        self.enqueue(k.numpy())
        return value

    def train_epoch(self, loader, desc="ssl"):
        """One pass over ``loader`` of (query views, key views, index) batches; the sample-weighted mean loss."""
        self.train()
        total, count = 0.0, 0
        bar = tqdm(loader, total=len(loader), desc=desc, leave=False, unit="batch")
        for im_q, im_k, _ in bar:
            n = int(im_q.shape[0])
            total += self.step(im_q, im_k) * n
            count += n
            bar.set_postfix(loss=f"{total / count:.4f}")
        bar.close()
        return total / max(count, 1)


class TwoViewDataset(Dataset):
    """Pairs of augmented views of the images of a :class:`dataset.SegDataset` (masks are not used).

    Items: ``(query view, key view, index)``, views ``3 x H x W`` float32 in [0, 1] like segmentation inputs.
    ``transform`` defaults to the original's two-crop pipeline (:func:`advance.augment.ssl_augmentation`);
    with ``augment_seed`` set (as :class:`dataset.loader.SegDataset`'s), image ``i``'s views are drawn from a
    generator seeded with ``(*augment_seed, i)``.
    """

    def __init__(self, images, transform=None, batch_size=8, shuffle=True):
        super().__init__()
        self.images = images
        self.views = TwoCrops(transform or ssl_augmentation())
        self.augment_seed = None
        self.set_attrs(batch_size=batch_size, shuffle=shuffle, total_len=len(images.samples))

    @staticmethod
    def _tensor(image):
        return np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32) / 255.0

    def __getitem__(self, index):
        image, _ = self.images.load(index)
        if self.augment_seed is not None:
            self.views.set_random_state([*self.augment_seed, index])
        q, k = self.views(image)
        return self._tensor(q), self._tensor(k), index
