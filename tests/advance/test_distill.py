"""Distillation: every loss against NumPy on tiny tensors, the feature taps, gradients reaching the student and
its connectors but never the teacher, and the flags' parsing."""
import numpy as np
import pytest

from tests.conftest import jt, random_batch
from jittor import nn

from advance.distill import DISTILLERS, FeatureTaps, build_distiller, encoder_stages, parse_layers, parse_methods, \
    parse_values
from advance.distill.methods import at_loss, cwd_loss, dist_loss, dkd_loss, hcl_loss, kd_loss
from model import create_model
from utils.errors import ConfigError


def var(a):
    return jt.array(np.asarray(a, np.float32))


def np_log_softmax(x, axis):
    x = x - x.max(axis=axis, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=axis, keepdims=True))


def np_kl(log_t, log_s, axis):
    return (np.exp(log_t) * (log_t - log_s)).sum(axis=axis)


RNG = np.random.RandomState(0)
S3, T3 = RNG.randn(2, 3, 2, 2) * 2, RNG.randn(2, 3, 2, 2) * 2   # logits N x C x H x W
LABELS3 = RNG.randint(0, 3, (2, 2, 2))


# --------------------------------------------------------------------------------------------------- losses
def test_kd_by_hand_and_its_temperature_scaling():
    # one pixel: teacher [1/4, 3/4], student [1/2, 1/2]
    s, t = var([[[[0.0]], [[0.0]]]]), var([[[[0.0]], [[np.log(3.0)]]]])
    expected = 0.25 * np.log(0.25 / 0.5) + 0.75 * np.log(0.75 / 0.5)
    assert kd_loss(s, t, 1.0).item() == pytest.approx(expected, rel=1e-5)
    for tau in (1.0, 2.0, 4.0):
        ref = tau ** 2 * np_kl(np_log_softmax(T3 / tau, 1), np_log_softmax(S3 / tau, 1), 1).mean()
        assert kd_loss(var(S3), var(T3), tau).item() == pytest.approx(ref, rel=1e-5)
    assert kd_loss(var(T3), var(T3), 4.0).item() == pytest.approx(0.0, abs=1e-6)


def test_at_by_hand_and_against_numpy():
    # one channel, 1 x 2 maps: student [1, 0] -> q [1, 0]; teacher [1, 1] -> q [1, 1] / sqrt 2
    s, t = var([[[[1.0, 0.0]]]]), var([[[[1.0, 1.0]]]])
    r = 1 / np.sqrt(2)
    assert at_loss(s, t).item() == pytest.approx(((1 - r) ** 2 + r ** 2) / 2, rel=1e-5)
    fs, ft = RNG.randn(2, 3, 4, 4), RNG.randn(2, 5, 4, 4)   # channel counts may differ

    def q(f):
        a = (np.abs(f) ** 2).mean(1).reshape(len(f), -1)
        return a / np.linalg.norm(a, axis=1, keepdims=True)
    assert at_loss(var(fs), var(ft)).item() == pytest.approx(((q(fs) - q(ft)) ** 2).mean(), rel=1e-5)
    assert at_loss(var(ft), var(ft)).item() == pytest.approx(0.0, abs=1e-7)
    # a student map at half the size is resized to the teacher's: a constant map matches a constant map
    assert at_loss(var(np.full((1, 2, 2, 2), 3.0)), var(np.full((1, 4, 4, 4), 0.5))).item() == pytest.approx(0, abs=1e-7)


def np_dkd(s, t, labels, alpha, beta, tau):
    gt = np.eye(s.shape[1])[labels].transpose(0, 3, 1, 2)
    ps, pt = np.exp(np_log_softmax(s / tau, 1)), np.exp(np_log_softmax(t / tau, 1))
    bs = np.stack([(ps * gt).sum(1), (ps * (1 - gt)).sum(1)], 1)
    bt = np.stack([(pt * gt).sum(1), (pt * (1 - gt)).sum(1)], 1)
    tckd = np_kl(np.log(bt), np.log(bs), 1)
    # the softmax over the non-target classes, written out with the target dropped
    c = s.shape[1]
    nckd = np.zeros(tckd.shape)
    for idx in np.ndindex(*labels.shape):
        n, i, j = idx
        keep = [k for k in range(c) if k != labels[idx]]
        ls, lt = np_log_softmax(s[n, keep, i, j] / tau, 0), np_log_softmax(t[n, keep, i, j] / tau, 0)
        nckd[idx] = np_kl(lt, ls, 0)
    return tau ** 2 * (alpha * tckd + beta * nckd).mean()


def test_dkd_against_numpy_and_kd_with_two_classes():
    labels = var(LABELS3).int32()
    for alpha, beta, tau in ((1.0, 8.0, 4.0), (0.5, 2.0, 1.0)):
        got = dkd_loss(var(S3), var(T3), labels, alpha, beta, tau).item()
        assert got == pytest.approx(np_dkd(S3, T3, LABELS3, alpha, beta, tau), rel=1e-4)
    assert dkd_loss(var(T3), var(T3), labels).item() == pytest.approx(0.0, abs=1e-6)
    # two classes: one non-target class, NCKD = 0, so DKD = alpha * KD
    s2, t2 = S3[:, :2], T3[:, :2]
    labels2 = var(LABELS3 % 2).int32()
    assert dkd_loss(var(s2), var(t2), labels2, 1.0, 8.0, 4.0).item() == pytest.approx(
        kd_loss(var(s2), var(t2), 4.0).item(), rel=1e-4)


def np_pearson(a, b):
    a, b = a - a.mean(1, keepdims=True), b - b.mean(1, keepdims=True)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-8)


def test_dist_against_numpy_and_zero_for_the_same_maps():
    for inter, intra, tau in ((1.0, 1.0, 1.0), (2.0, 0.5, 3.0)):
        ys = np.exp(np_log_softmax(S3 / tau, 1)).transpose(0, 2, 3, 1).reshape(-1, 3)
        yt = np.exp(np_log_softmax(T3 / tau, 1)).transpose(0, 2, 3, 1).reshape(-1, 3)
        ref = tau ** 2 * (inter * (1 - np_pearson(ys, yt).mean()) + intra * (1 - np_pearson(ys.T, yt.T).mean()))
        assert dist_loss(var(S3), var(T3), inter, intra, tau).item() == pytest.approx(ref, rel=1e-4)
    assert dist_loss(var(T3), var(T3)).item() == pytest.approx(0.0, abs=1e-5)
    # relations, not values: a student with the teacher's class ranking but another scale scores close to 0
    assert dist_loss(var(T3 * 1.5), var(T3)).item() < 0.1 * dist_loss(var(S3), var(T3)).item()


def test_cwd_by_hand_and_against_numpy():
    # one channel of two positions: teacher [1/4, 3/4], student [1/2, 1/2] over the positions
    s, t = var([[[[0.0, 0.0]]]]), var([[[[0.0, np.log(3.0)]]]])
    assert cwd_loss(s, t, 1.0).item() == pytest.approx(0.25 * np.log(0.5) + 0.75 * np.log(1.5), rel=1e-5)
    for tau in (1.0, 4.0):
        ls, lt = np_log_softmax(S3.reshape(6, 4) / tau, 1), np_log_softmax(T3.reshape(6, 4) / tau, 1)
        assert cwd_loss(var(S3), var(T3), tau).item() == pytest.approx(tau ** 2 * np_kl(lt, ls, 1).mean(), rel=1e-5)
    assert cwd_loss(var(T3), var(T3), 4.0).item() == pytest.approx(0.0, abs=1e-6)


def test_hcl_against_numpy():
    def pool(x, b):
        n, c, h, w = x.shape
        return x.reshape(n, c, b, h // b, b, w // b).mean((3, 5))

    fs, ft = RNG.randn(2, 3, 8, 8), RNG.randn(2, 3, 8, 8)
    small_s, small_t = RNG.randn(1, 2, 2, 2), RNG.randn(1, 2, 2, 2)
    level8 = (((fs - ft) ** 2).mean() + 0.5 * ((pool(fs, 4) - pool(ft, 4)) ** 2).mean()
              + 0.25 * ((pool(fs, 2) - pool(ft, 2)) ** 2).mean()
              + 0.125 * ((pool(fs, 1) - pool(ft, 1)) ** 2).mean()) / 1.875
    level2 = (((small_s - small_t) ** 2).mean() + 0.5 * ((pool(small_s, 1) - pool(small_t, 1)) ** 2).mean()) / 1.5
    got = hcl_loss([var(fs), var(small_s)], [var(ft), var(small_t)]).item()
    assert got == pytest.approx(level8 + level2, rel=1e-5)


# --------------------------------------------------------------------------------------------------- taps
def tiny(base):
    return create_model("unet", base=base)


def test_taps_read_named_layers_and_a_wrong_name_lists_the_valid_ones():
    net = tiny(2)
    taps = FeatureTaps(net, ["down2", "up1.conv"])
    found = taps(random_batch(1, 3, 32, 32))
    assert tuple(found["down2"].shape) == (1, 8, 8, 8) and found["up1.conv"].ndim == 4
    with pytest.raises(ConfigError, match=r"--kd-layers 'down9' is not a submodule of UNet; valid names: inc, "
                                          r"down1, .*outc"):
        FeatureTaps(tiny(2), ["down9"])
    with pytest.raises(ConfigError, match="already tapped"):
        FeatureTaps(net, ["down2"])


def test_encoder_stages_are_the_last_map_of_each_resolution_down_to_the_bottleneck():
    stages = encoder_stages(tiny(2), random_batch(1, 3, 32, 32))
    assert [(s.name, s.channels, s.stride) for s in stages] == [
        ("inc", 2, 1), ("down1", 4, 2), ("down2", 8, 4), ("down3", 16, 8), ("down4", 16, 16)]


# --------------------------------------------------------------------------------------------------- training
def state(module):
    return {k: v.numpy().copy() for k, v in module.state_dict().items()}


@pytest.fixture(scope="module")
def batch():
    x = random_batch(2, 3, 32, 32, seed=3)
    labels = jt.array(np.random.RandomState(4).randint(0, 2, (2, 32, 32)).astype(np.int32))
    return x, labels


def distiller(methods, layers=(), batch=None):
    jt.set_global_seed(0)
    return build_distiller(tiny(2), tiny(4), methods, layers=layers, example=batch[0])


def test_gradients_reach_the_student_and_the_connectors_never_the_teacher(batch):
    x, labels = batch
    d = distiller(["kd", "at", "dkd", "dist", "cwd", "reviewkd"], layers=[("down2", "down2"), ("down4", "down4")],
                  batch=batch)
    teacher_before = state(d.teacher)
    d.train()
    d(x)
    loss = sum(v for _, v in d.terms(labels))
    def trained(module):  # weights and biases (BatchNorm statistics have no gradient)
        return [p for name, p in module.named_parameters() if "running_" not in name]
    student, connectors = trained(d.student), trained(d.methods)
    assert connectors, "cwd on features and reviewkd train connectors"
    grads = jt.grad(loss, student + connectors)
    assert all(np.isfinite(g.numpy()).all() for g in grads)
    assert all(float(np.abs(g.numpy()).sum()) > 0 for g in grads)
    teacher_grads = jt.grad(loss, d.teacher.parameters())
    assert all(float(np.abs(g.numpy()).sum()) == 0 for g in teacher_grads)
    # a few optimiser steps over everything the distiller trains, with an evaluation between them (which
    # stops the student's gradients in Jittor until train() restores them): the teacher stays as it was
    optimizer = nn.Adam(d.parameters(), 1e-2)
    student_before = state(d.student)
    for step in range(3):
        d.train()
        out = d(x)
        optimizer.step(nn.cross_entropy_loss(out, labels) + sum(v for _, v in d.terms(labels)))
        d.student.eval()
    after = state(d.teacher)
    assert all(np.array_equal(teacher_before[k], after[k]) for k in after)   # weights and BatchNorm statistics
    changed = state(d.student)
    assert sum(not np.array_equal(student_before[k], changed[k]) for k in changed) > 0.9 * len(changed)
    assert {id(p) for p in d.parameters()}.isdisjoint({id(p) for p in d.teacher.parameters()})


def test_the_student_keeps_its_own_names_connectors_are_apart(batch):
    d = distiller(["cwd"], layers=[("down3", "down4")], batch=batch)
    assert set(d.student.state_dict()) == set(tiny(2).state_dict())
    # the resume state keeps the methods' own names (what Distiller.methods.load_parameters takes back)
    assert set(d.connector_state()) == {k[len("methods."):] for k in d.state_dict() if k.startswith("methods.")}
    assert tuple(d.methods[0].connectors[0].conv.weight.shape) == (32, 16, 1, 1)  # student 16 -> teacher 32 channels


def test_logits_methods_need_no_layers_and_eval_mode_is_the_student_alone(batch):
    x, labels = batch
    d = distiller(["kd"], batch=batch)
    d.eval()
    np.testing.assert_array_equal(d(x).numpy(), d.student(x).numpy())
    assert d.methods[0].pairs == [] and d.methods[0].tau == 1.0  # the default temperature


# --------------------------------------------------------------------------------------------------- flags
def test_flags_parse_and_refuse_what_cannot_work(batch):
    assert parse_methods("kd,at") == ["kd", "at"] and parse_methods("all") == DISTILLERS.names(sort=False)
    with pytest.raises(ConfigError, match=r"unknown distillation method 'kdd' \(--kd\) \(did you mean 'kd'\?\)"):
        parse_methods("kdd")
    assert parse_values("2", ["kd"], "--kd-weight") == [2.0]
    assert parse_values(",0.5", ["kd", "cwd"], "--kd-weight") == [None, 0.5]
    with pytest.raises(ConfigError, match="one value per method"):
        parse_values("2", ["kd", "at"], "--kd-weight")
    with pytest.raises(ConfigError, match="finite positive"):
        parse_values("-1", ["kd"], "--kd-weight")
    with pytest.raises(ConfigError, match="at has no temperature"):
        parse_values("2,2", ["kd", "at"], "--kd-tau")
    assert parse_layers("stage2:down1, stage3:down2") == [("stage2", "down1"), ("stage3", "down2")]
    with pytest.raises(ConfigError, match="student:teacher pairs"):
        parse_layers("stage2-down1")
    with pytest.raises(ConfigError, match="distil the class maps only"):
        distiller(["kd"], layers=[("down2", "down2")], batch=batch)
    with pytest.raises(ConfigError, match="'down1.9' is not a submodule"):
        distiller(["at"], layers=[("down1.9", "down1")], batch=batch)
