"""Contrastive pretraining: the hook, InfoNCE, the momentum encoder, learning on demo data, run_ssl -> run.py."""
import csv
import os

import numpy as np
import pytest

from tests.conftest import jt, random_batch
from jittor import nn

import run
import run_ssl
from advance.augment import ssl_augmentation
from advance.ssl import HiddenLayer, MoCoLearner, TwoViewDataset, info_nce, l2_normalize, momentum_update
from dataset import load_split
from dataset.loader import SegDataset
from model import create_model
from utils import checkpoint as ckpt
from utils.errors import ConfigError


def tiny_unet():
    return create_model("unet", base=4)


def test_unknown_layer_lists_the_valid_names():
    with pytest.raises(ConfigError) as e:
        HiddenLayer(tiny_unet(), "down5")
    msg = str(e.value)
    assert "down5" in msg and "down4" in msg and "inc" in msg and "outc" in msg


def test_hidden_layer_returns_the_layers_output_and_stops_there():
    net = tiny_unet()
    hook = HiddenLayer(net, "down4")
    out = hook(random_batch(2, 3, 32, 32))
    assert tuple(out.shape) == (2, 32, 2, 2)  # base 4: 4 * 16 / 2 channels at 1/16
    assert tuple(HiddenLayer(tiny_unet(), "down1.1")(random_batch(1, 3, 32, 32)).shape) == (1, 8, 16, 16)


def test_info_nce_matches_a_hand_computation():
    rng = np.random.RandomState(0)
    q = rng.randn(3, 4)
    k = rng.randn(3, 4)
    queue = rng.randn(4, 5)
    q, k = q / np.linalg.norm(q, axis=1, keepdims=True), k / np.linalg.norm(k, axis=1, keepdims=True)
    queue /= np.linalg.norm(queue, axis=0, keepdims=True)
    logits = np.concatenate([(q * k).sum(1, keepdims=True), q @ queue], 1) / 0.07
    expected = np.mean(np.log(np.exp(logits).sum(1)) - logits[:, 0])
    got = info_nce(*(jt.array(a.astype(np.float32)) for a in (q, k, queue)), temperature=0.07).item()
    assert got == pytest.approx(expected, rel=1e-5)
    x = l2_normalize(jt.array(rng.randn(4, 7).astype(np.float32))).numpy()
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-6)


def test_momentum_update_is_exactly_the_moco_formula():
    key, query = nn.Linear(3, 2), nn.Linear(3, 2)
    k0 = [p.numpy().copy() for p in key.parameters()]
    q0 = [p.numpy().copy() for p in query.parameters()]
    momentum_update([key], [query], 0.9)
    for p, a, b in zip(key.parameters(), k0, q0):
        np.testing.assert_allclose(p.numpy(), 0.9 * a + 0.1 * b, rtol=1e-6, atol=1e-7)
    for p, b in zip(query.parameters(), q0):
        np.testing.assert_array_equal(p.numpy(), b)  # the query side is untouched


def _learner(momentum=0.9, queue_size=16, lr=1e-3, net=None):
    net = net or create_model("unet", base=8)
    return MoCoLearner(net, "down4", random_batch(2, 3, 32, 32), queue_size=queue_size, momentum=momentum, lr=lr,
                       rng=np.random.default_rng(0))


def test_learner_steps_update_head_key_encoder_and_bank():
    learner = _learner(momentum=0.9)
    assert learner.channels == 64
    head0 = learner.head.fc.weight.numpy().copy()
    x1, x2 = random_batch(4, 3, 32, 32, seed=1), random_batch(4, 3, 32, 32, seed=2)
    learner.step(x1, x2)

    def trainable(model, head):
        return [p for p in model.parameters() + head.parameters() if "running_" not in p.name()]
    key1 = [p.numpy().copy() for p in trainable(learner.key_model, learner.key_head)]
    query1 = [p.numpy().copy() for p in trainable(learner.model, learner.head)]
    assert not np.allclose(learner.head.fc.weight.numpy(), head0)  # the projection head is trained
    assert learner.ptr == 4 and not learner.bank_full
    learner.step(x2, x1)
    key2 = [p.numpy() for p in trainable(learner.key_model, learner.key_head)]
    assert len(key2) == len(query1) > 10
    for a, k, q in zip(key2, key1, query1):
        np.testing.assert_allclose(a, 0.9 * k + 0.1 * q, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(learner.queue, axis=0), 1.0, rtol=1e-5)
    for _ in range(2):
        learner.step(x1, x2)
    assert learner.bank_full  # 16 keys in a 16-entry bank


def test_memory_bank_wraps_around():
    learner = _learner(queue_size=6, net=tiny_unet())
    learner.enqueue(np.eye(128, dtype=np.float32)[:4])
    learner.enqueue(np.eye(128, dtype=np.float32)[4:8])
    assert learner.ptr == 2
    # Columns 0-3 got keys 0-3; keys 4-7 went to columns 4, 5, then wrapped to 0, 1.
    np.testing.assert_array_equal(learner.queue, np.eye(128, dtype=np.float32)[[6, 7, 2, 3, 4, 5]].T)


def test_shared_encoder_with_momentum_zero_and_channel_check():
    learner = _learner(momentum=0.0, net=tiny_unet())
    assert learner.key_model is None
    with pytest.raises(ConfigError, match="outputs 32 channels but --channel is 512"):
        MoCoLearner(tiny_unet(), "down4", random_batch(1, 3, 32, 32), channels=512)


def test_info_nce_falls_over_a_few_steps_on_demo_data(demo_root):
    samples = load_split("demo", "train", demo_root)
    images = SegDataset(samples, img_size=32, need_masks=False)
    views = TwoViewDataset(images, ssl_augmentation(rng=np.random.default_rng(0)), batch_size=8, shuffle=False)
    batch = [views[i] for i in range(8)]
    q = jt.array(np.stack([b[0] for b in batch]))
    k = jt.array(np.stack([b[1] for b in batch]))
    assert q.shape == (8, 3, 32, 32) and 0.0 <= float(q.min().item()) and float(q.max().item()) <= 1.0
    learner = _learner(momentum=0.99, queue_size=32, lr=1e-3)
    others = jt.array(np.stack([views[i][1] for i in range(8, 40)]))
    learner.enqueue(learner.keys(others).numpy())  # negatives: other images of the split
    losses = []
    for _ in range(6):
        loss, _ = learner.loss(q, k)
        losses.append(float(loss.item()))
        learner.optimizer.step(loss)
    assert losses[-1] < losses[0] - 0.05, losses


def test_run_ssl_weights_load_into_run_py(demo_root, in_tmp, capsys):
    save = "checkpoints/unet-ssl.pkl"
    code = run_ssl.main(["--model", "unet", "--dataset", "demo", "--data-root", demo_root, "--img-size", "32",
                         "-e", "2", "-b", "16", "--lr", "1e-4", "--queue-size", "32", "--save", save])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "epoch[01] loss:[" in out.out
    meta = ckpt.read_meta(save)
    assert meta["kind"] == "ssl" and meta["model"] == "unet" and meta["layer"] == "down4" and meta["channels"] == 512
    rows = list(csv.DictReader(open("checkpoints/unet-ssl-log.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    # 48 keys fill the 32-entry bank during epoch 1: epoch 1 is a warm-up (saved as the latest), epoch 2 the
    # first comparable one, hence the best so far.
    assert [r["bank_full"] for r in rows] == ["0", "1"] and [r["saved"] for r in rows] == ["1", "1"]
    assert int(meta["epoch"]) == 2 and meta["bank_full"] is True
    assert os.path.getsize("checkpoints/unet-ssl-loss.png") > 5000
    common = ["--model", "unet", "--mode", "debug", "--img-size", "32", "--pretrain", "--checkpoint", save]
    assert run.main(common) == 0
    assert "loaded self-supervised weights" in capsys.readouterr().out
    assert run.main(common + ["--stn"]) == 0
    # Strict: the same file does not fit a network with another head.
    assert run.main(common + ["-c", "3"]) == 2
    assert "outc" in capsys.readouterr().err


def test_run_ssl_rejects_a_bad_layer(demo_root, in_tmp, capsys):
    code = run_ssl.main(["--model", "unet", "--dataset", "demo", "--data-root", demo_root, "--img-size", "32",
                         "-e", "1", "--layer", "bottleneck"])
    assert code == 2
    assert "valid names" in capsys.readouterr().err
